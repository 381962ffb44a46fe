"""MLX synthesis beyond llama/qwen: gpt-oss, gemma3 text, qwen3_next, Qwen3.5 (dense and MoE), GLM-4.x MoE,
MiniMax-M2, Llama 4 and Nemotron-H load and generate in mlx-lm, the bytes written equal
tokbench.quant.mlx's count for the same spec and mode, and tokbench reads the directory back as the
same architecture."""

from dataclasses import replace

import pytest

from tokbench.errors import UserError
from tokbench.quant.mlx import tensor_bytes
from tokbench.quant.presets import get_preset
from tokbench.modelspec import load_spec
from tokbench.synth import mlx as mlx_mod
from tokbench.synth import prepare, synthesize

mlx_lm = pytest.importorskip("mlx_lm")

# (catalog model, layers kept): enough layers for one global/full-attention layer in the pattern.
_MODELS = {"gpt-oss-20b": 2, "gemma-3-27b": 6, "qwen3-next-80b-a3b": 4, "qwen3.5-27b": 4, "qwen3.5-35b-a3b": 4,
           "glm-4.5-air": 2, "minimax-m2": 2, "llama-4-maverick-17b-128e": 4, "nemotron-3-nano-30b-a3b": 6}
CURRENT = ["qwen3.5-27b", "qwen3.5-35b-a3b", "glm-4.5-air", "minimax-m2", "llama-4-maverick-17b-128e",
           "nemotron-3-nano-30b-a3b"]


def _tiny(model: str):
    spec = load_spec(model)
    if spec.n_experts:  # mlx-lm's llama4 routes one expert per token
        spec = replace(spec, n_experts=8, n_experts_used=1 if spec.arch == "llama4" else 2)
    return prepare(spec, scale_layers=_MODELS[model], scale_width=0.0625, vocab=1024)


# bf16 MoE is not run here: mlx's CPU backend has no bf16 GatherMM ("Currently only supports float32").
@pytest.mark.engine
@pytest.mark.parametrize(
    "model,quant",
    [("gpt-oss-20b", "mlx-4bit"), ("gpt-oss-20b", "mlx-8bit-g32"), ("gemma-3-27b", "mlx-4bit"),
     ("gemma-3-27b", "mlx-bf16"), ("qwen3-next-80b-a3b", "mlx-4bit"), ("qwen3.5-27b", "mlx-bf16"),
     *[(m, "mlx-4bit") for m in CURRENT], ("nemotron-3-nano-30b-a3b", "mlx-8bit-g32")],
)
def test_new_arch_loads_and_generates(tmp_path, model, quant):
    spec = _tiny(model)
    out = synthesize(spec, quant, tmp_path / "m", vocab=1024)
    model_, tok = mlx_lm.load(str(out))
    text = mlx_lm.generate(model_, tok, "hello world", max_tokens=4)
    assert isinstance(text, str) and len(text) > 0
    back = load_spec(str(out))  # tokbench's MLX reader: same architecture, layer kinds and exact bytes
    assert (back.arch, back.kinds, back.n_params()) == (spec.arch, spec.kinds, spec.n_params())
    assert back.weights_bytes == sum(tensor_bytes(spec, quant).values())


@pytest.mark.parametrize("model", [*_MODELS, "qwen3-30b-a3b", "llama-3.1-8b"])
@pytest.mark.parametrize("quant", ["mlx-bf16", "mlx-4bit", "mlx-8bit-g32", "mlx-6bit-g128"])
def test_bytes_equal_quant_count(model, quant):
    spec = _tiny(model) if model in _MODELS else prepare(
        replace(load_spec(model), n_experts=load_spec(model).n_experts and 8), scale_layers=2,
        scale_width=0.125, vocab=1024)
    tensors, _ = mlx_mod.mlx_tensors(spec, get_preset(quant))
    assert sum(t.nbytes for t in tensors) == sum(tensor_bytes(spec, quant).values())


def test_gpt_oss_layout():
    spec = _tiny("gpt-oss-20b")
    tensors, quant = mlx_mod.mlx_tensors(spec, get_preset("mlx-4bit"))
    by_name = {t.name: t for t in tensors}
    assert quant["model.layers.0.mlp.router"] == {"group_size": 64, "bits": 8}
    assert by_name["model.layers.0.self_attn.sinks"].shape == (spec.n_heads,)
    assert by_name["model.layers.1.mlp.experts.down_proj.bias"].shape == (8, spec.hidden)
    assert by_name["model.layers.0.mlp.experts.gate_proj.weight"].shape == (8, spec.expert_ffn, spec.hidden // 8)
    assert "lm_head.weight" in by_name


def test_qwen3_next_fuses_qkvz_and_keeps_conv_float():
    spec = _tiny("qwen3-next-80b-a3b")
    tensors, quant = mlx_mod.mlx_tensors(spec, get_preset("mlx-4bit"))
    by_name = {t.name: t for t in tensors}
    key, value = spec.linear_k_heads * spec.linear_k_dim, spec.linear_v_heads * spec.linear_v_dim
    assert by_name["model.layers.0.linear_attn.in_proj_qkvz.weight"].shape == (2 * key + 2 * value, spec.hidden // 8)
    conv = by_name["model.layers.0.linear_attn.conv1d.weight"]
    assert conv.dtype == "BF16" and conv.shape == (2 * key + value, spec.conv_kernel, 1)
    assert quant["model.layers.0.mlp.shared_expert_gate"] == {"group_size": 64, "bits": 8}
    assert not any("attn_gate" in t.name for t in tensors)


def test_gemma3_needs_a_global_layer(tmp_path):
    spec = prepare(load_spec("gemma-3-27b"), scale_layers=2, scale_width=0.0625, vocab=1024)
    with pytest.raises(UserError, match="scale-layers >= 6"):
        synthesize(spec, "mlx-4bit", tmp_path / "m")


def test_qwen35_keeps_the_delta_net_projections_apart():
    spec = _tiny("qwen3.5-35b-a3b")
    tensors, quant = mlx_mod.mlx_tensors(spec, get_preset("mlx-4bit"))
    by_name = {t.name: t for t in tensors}
    prefix = "language_model.model.layers.0"  # the paths mlx_lm.convert saves for Qwen3.5
    for proj in ("in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a"):
        assert f"{prefix}.linear_attn.{proj}.weight" in by_name
    assert quant[f"{prefix}.mlp.gate"] == quant[f"{prefix}.mlp.shared_expert_gate"] == {"group_size": 64, "bits": 8}
    assert "language_model.lm_head.weight" in by_name


@pytest.mark.parametrize("model, layers, used, match", [("llama-4-scout-17b-16e", 4, 2, "1 expert per token"),
                                                        ("nemotron-3-nano-30b-a3b", 4, 2, "scale-layers >= 6")])
def test_layouts_mlx_lm_cannot_build_are_refused(tmp_path, model, layers, used, match):
    spec = prepare(replace(load_spec(model), n_experts=8, n_experts_used=used), scale_layers=layers,
                   scale_width=0.0625, vocab=1024)
    with pytest.raises(UserError, match=match):
        synthesize(spec, "mlx-4bit", tmp_path / "m")


def test_unsupported_arch_lists_supported(tmp_path):
    spec = prepare(load_spec("deepseek-v3"), scale_layers=4, scale_width=0.0625, vocab=1024)
    with pytest.raises(UserError) as err:
        synthesize(spec, "mlx-4bit", tmp_path / "m")
    for arch in ("gpt-oss", "gemma3", "qwen3next", "qwen3moe", "llama", "qwen35moe", "glm4moe", "nemotron_h"):
        assert arch in str(err.value)
