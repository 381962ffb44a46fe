"""tokbench.quant.mlx against mlx-lm's own quantize_model on tiny random-weight models."""

from __future__ import annotations

import pytest

from tokbench.errors import UserError
from tokbench.quant.mlx import quantized_bytes, tensor_bytes, weights_bytes
from tokbench.modelspec.model import ModelSpec

# Widths chosen so the group-size rule matters: hidden 192 divides 32 and 64 but not 128,
# ffn 320 divides 32 and 64 but not 128, expert ffn 128 divides all three.
LLAMA_CFG = dict(model_type="llama", hidden_size=192, num_hidden_layers=2, intermediate_size=320,
                 num_attention_heads=3, num_key_value_heads=1, head_dim=64, rms_norm_eps=1e-6,
                 vocab_size=100, tie_word_embeddings=False)
QWEN3MOE_CFG = dict(model_type="qwen3_moe", hidden_size=192, num_hidden_layers=2, intermediate_size=320,
                    num_attention_heads=3, num_key_value_heads=1, head_dim=64, num_experts=8,
                    num_experts_per_tok=2, decoder_sparse_step=1, mlp_only_layers=[], moe_intermediate_size=128,
                    rms_norm_eps=1e-6, vocab_size=100, rope_theta=1e6, tie_word_embeddings=False,
                    max_position_embeddings=512, norm_topk_prob=True)

SPECS = {
    "llama": ModelSpec(name="llama", arch="llama", n_layers=2, hidden=192, n_heads=3, n_kv_heads=1, head_dim=64,
                       vocab=100, intermediate=320),
    "qwen3_moe": ModelSpec(name="qwen3moe", arch="qwen3moe", n_layers=2, hidden=192, n_heads=3, n_kv_heads=1,
                           head_dim=64, vocab=100, qk_norm=True, n_experts=8, n_experts_used=2, expert_ffn=128),
}
CONFIGS = {"llama": LLAMA_CFG, "qwen3_moe": QWEN3MOE_CFG}
MODES = ["mlx-4bit", "mlx-4bit-g32", "mlx-4bit-g128", "mlx-8bit", "mlx-6bit", "mlx-5bit", "mlx-3bit",
         "mlx-2bit-g32", "mlx-mxfp4", "mlx-mxfp8", "mlx-nvfp4", "mlx-bf16"]


def _mlx_param_bytes(model_type: str, mode: str) -> int:
    """Build the mlx-lm model in bf16, quantize it with mlx-lm's quantize_model, sum parameter bytes."""
    mx = pytest.importorskip("mlx.core")
    import importlib

    from mlx.utils import tree_flatten
    from mlx_lm.utils import quantize_model

    from tokbench.quant.presets import get_preset

    arch = importlib.import_module(f"mlx_lm.models.{model_type}")
    cfg = CONFIGS[model_type]
    model = arch.Model(arch.ModelArgs.from_dict(cfg))
    model.set_dtype(mx.bfloat16)
    p = get_preset(mode)
    if p.mlx_mode is not None:
        quantize_model(model, dict(cfg), p.group_size, p.bits, mode=p.mlx_mode)
    return sum(v.nbytes for _, v in tree_flatten(model.parameters()))


@pytest.mark.engine
@pytest.mark.parametrize("model_type", list(SPECS))
@pytest.mark.parametrize("mode", MODES)
def test_tensor_bytes_match_mlx_lm_quantize(model_type, mode):
    """Predicted bytes equal the parameter bytes of the model mlx-lm quantized."""
    assert weights_bytes(SPECS[model_type], mode) == _mlx_param_bytes(model_type, mode)


def test_affine_bytes_formula():
    """4-bit g64 affine: 4 bits + a bf16 scale and bias per 64 weights = 4.5 bits per weight."""
    assert quantized_bytes(4096, 4096, 4, 64, "affine") * 8 / (4096 * 4096) == 4.5
    assert quantized_bytes(4096, 4096, 4, 32, "mxfp4") * 8 / (4096 * 4096) == 4.25
    assert quantized_bytes(4096, 4096, 4, 16, "nvfp4") * 8 / (4096 * 4096) == 4.5


def test_router_kept_at_8bit_and_narrow_rows_unquantized():
    """qwen3moe's router is affine 8-bit g64 in every mode; rows that don't divide the group stay bf16."""
    spec = SPECS["qwen3_moe"]
    b = tensor_bytes(spec, "mlx-mxfp4")
    assert b["blk.0.ffn_gate_inp.weight"] == quantized_bytes(192, 8, 8, 64, "affine")
    # hidden 192 is not a multiple of 128: every projection reading the hidden state stays bf16 at g128.
    b128 = tensor_bytes(spec, "mlx-4bit-g128")
    assert b128["blk.0.attn_q.weight"] == 192 * 192 * 2
    assert b128["blk.0.ffn_down_exps.weight"] == quantized_bytes(128, 192 * 8, 4, 128, "affine")


def test_llamacpp_name_is_rejected():
    """A llama.cpp preset is not an MLX mode."""
    with pytest.raises(UserError):
        tensor_bytes(SPECS["llama"], "Q4_K_M")
