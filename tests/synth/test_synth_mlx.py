"""Synthesized MLX directories load and generate in mlx-lm (bf16 and affine-quantized)."""

import json
from dataclasses import replace

import pytest

from tokbench.modelspec import load_spec
from tokbench.synth import mlx as mlx_mod
from tokbench.synth import prepare, synthesize

mlx_lm = pytest.importorskip("mlx_lm")
pytestmark = pytest.mark.engine


@pytest.mark.parametrize(
    "model,quant",
    [("llama-3.1-8b", "mlx-4bit"), ("qwen3-30b-a3b", "mlx-4bit"), ("qwen3-30b-a3b", "mlx-8bit-g32"),
     ("qwen2.5-7b", "mlx-bf16")],
)
def test_loads_and_generates(tmp_path, model, quant):
    spec = load_spec(model)
    if spec.n_experts:
        spec = replace(spec, n_experts=16, n_experts_used=4)
    target = prepare(spec, scale_layers=2, scale_width=0.0625, vocab=1024)
    out = synthesize(target, quant, tmp_path / "m", vocab=1024)
    cfg = json.loads((out / "config.json").read_text())
    assert ("quantization" in cfg) == (quant != "mlx-bf16")
    model_, tok = mlx_lm.load(str(out))
    ids = tok.encode("hello world, the quick brown fox")
    assert tok.decode(ids) == "hello world, the quick brown fox"
    text = mlx_lm.generate(model_, tok, "hello world", max_tokens=6)
    assert isinstance(text, str) and len(text) > 0


def test_quantized_layout_and_router_override():
    from tokbench.quant.presets import get_preset

    spec = prepare(replace(load_spec("qwen3-30b-a3b"), n_experts=8), scale_layers=1, scale_width=0.125, vocab=512)
    tensors, quant = mlx_mod.mlx_tensors(spec, get_preset("mlx-4bit"))
    by_name = {t.name: t for t in tensors}
    w = by_name["model.layers.0.mlp.switch_mlp.up_proj.weight"]
    assert w.dtype == "U32" and w.shape == (8, spec.expert_ffn, spec.hidden * 4 // 32)
    assert by_name["model.layers.0.mlp.switch_mlp.up_proj.scales"].shape == (8, spec.expert_ffn, spec.hidden // 64)
    assert quant["model.layers.0.mlp.gate"] == {"group_size": 64, "bits": 8}
    assert by_name["model.layers.0.input_layernorm.weight"].dtype == "BF16"


def test_shards_when_large(tmp_path, monkeypatch):
    monkeypatch.setattr(mlx_mod, "SHARD_BYTES", 1 << 20)
    spec = prepare(load_spec("llama-3.1-8b"), scale_layers=2, scale_width=0.0625, vocab=1024)
    out = synthesize(spec, "mlx-4bit", tmp_path / "m")
    shards = sorted(out.glob("model-*.safetensors"))
    assert len(shards) > 1 and (out / "model.safetensors.index.json").is_file()
    model_, tok = mlx_lm.load(str(out))
    assert mlx_lm.generate(model_, tok, "hi", max_tokens=2)
