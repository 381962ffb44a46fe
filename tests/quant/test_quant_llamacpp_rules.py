"""tokbench.quant.llamacpp rules that the small real-quantizer models can't reach (pure, fast)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tokbench.errors import UserError
from tokbench.quant.llamacpp import (
    allows_quantization, fallback_type, loader_order, tensor_types, use_more_bits, weights_bytes,
)
from tokbench.modelspec.model import ModelSpec, TensorSpec

LLAMA8B = ModelSpec(name="l8", arch="llama", n_layers=32, hidden=4096, n_heads=32, n_kv_heads=8, head_dim=128,
                    vocab=128256, intermediate=14336)


def test_use_more_bits_layers():
    """Q4_K_M's extra-bits layers for 32 layers: first/last eighth and every third in between."""
    more = [i for i in range(32) if use_more_bits(i, 32)]
    assert more == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]


def test_q4_k_m_llama_8b_mixture():
    """Llama-3.1-8B Q4_K_M: output Q6_K, 16 of 32 attn_v/ffn_down Q6_K, rest Q4_K, norms F32."""
    types = tensor_types(LLAMA8B, "q4_k_m")
    assert types["output.weight"] == "Q6_K" and types["token_embd.weight"] == "Q4_K"
    assert sum(types[f"blk.{i}.attn_v.weight"] == "Q6_K" for i in range(32)) == 16
    assert sum(types[f"blk.{i}.ffn_down.weight"] == "Q6_K" for i in range(32)) == 16
    assert types["blk.5.attn_q.weight"] == "Q4_K" and types["blk.5.attn_norm.weight"] == "F32"
    # 4.9 GB: what published Llama-3.1-8B Q4_K_M files hold in tensor data
    assert 4.85e9 < weights_bytes(LLAMA8B, "Q4_K_M") < 4.95e9


def test_70b_attn_v_gets_q5_k():
    """llama.cpp's 70B rule (llama, 80 layers, GQA): Q3_K/Q4_K attn_v become Q5_K."""
    spec = replace(LLAMA8B, n_layers=80, hidden=256, n_heads=8, n_kv_heads=1, head_dim=32, intermediate=512, vocab=256)
    assert tensor_types(spec, "Q3_K_S")["blk.40.attn_v.weight"] == "Q5_K"
    assert tensor_types(replace(spec, n_layers=79), "Q3_K_S")["blk.40.attn_v.weight"] == "Q3_K"


def test_hybrid_counts_attn_qkv_with_attn_v():
    """n_attention_wv counts attn_qkv (linear-attention layers) and attn_v together, in loader order."""
    ts = [TensorSpec("token_embd.weight", (256, 64)), TensorSpec("output.weight", (256, 64))]
    for i in range(16):
        if i % 4 == 3:
            ts.append(TensorSpec(f"blk.{i}.attn_v.weight", (256, 256), layer=i))
        else:
            ts.append(TensorSpec(f"blk.{i}.attn_qkv.weight", (256, 768), layer=i))
    spec = ModelSpec(name="h", arch="qwen3next", n_layers=16, hidden=256, n_heads=8, n_kv_heads=8, head_dim=32,
                     vocab=64, tensor_list=tuple(ts))
    types = tensor_types(spec, "Q4_K_M")
    # The counter runs over all 16 such tensors, so use_more_bits(i, 16) picks them by block index.
    for i in range(16):
        name = f"blk.{i}.attn_v.weight" if i % 4 == 3 else f"blk.{i}.attn_qkv.weight"
        assert (types[name] == "Q6_K") == use_more_bits(i, 16), name


def test_loader_order_sorts_blocks_numerically():
    """blk.10 comes after blk.9 (llama.cpp's weight_name_comparer), non-block tensors first."""
    names = [t.name for t in loader_order([TensorSpec("blk.10.a.weight", (1,)), TensorSpec("blk.9.b.weight", (1,)),
                                           TensorSpec("output.weight", (1,))])]
    assert names == ["output.weight", "blk.9.b.weight", "blk.10.a.weight"]


@pytest.mark.parametrize(("target", "row", "expected"), [
    ("IQ4_XS", 320, "IQ4_NL"), ("IQ2_XXS", 320, "IQ4_NL"), ("Q2_K", 320, "Q4_0"), ("Q3_K", 320, "Q4_0"),
    ("Q4_K", 320, "Q5_0"), ("Q5_K", 320, "Q5_1"), ("Q6_K", 320, "Q8_0"), ("Q6_K", 1000, "F16"),
    ("Q8_0", 1000, "F16"), ("Q4_K", 512, "Q4_K"), ("MXFP4", 100, "F16"),
])
def test_block_size_fallbacks(target, row, expected):
    """tensor_type_fallback: a 32-block type when 256 doesn't divide the row, F16 when 32 doesn't either."""
    assert fallback_type(target, row) == expected


def test_no_fallback_for_q1_0():
    """Q1_0's 128-blocks have no fallback: llama.cpp aborts, so do we."""
    with pytest.raises(ValueError):
        fallback_type("Q1_0", 320)


def test_kept_tensors():
    """Norms, 1-D tensors, routers and conv weights are never quantized."""
    assert not allows_quantization(TensorSpec("blk.0.ffn_gate_inp.weight", (2048, 128)))
    assert not allows_quantization(TensorSpec("blk.0.ssm_conv1d.weight", (4, 8192)))
    assert not allows_quantization(TensorSpec("blk.0.attn_q_norm.weight", (128,)))
    assert not allows_quantization(TensorSpec("blk.0.attn_q.bias", (4096, 2)))
    assert allows_quantization(TensorSpec("blk.0.ffn_up_exps.weight", (2048, 768, 128)))


def test_native_types_and_errors():
    """A spec read from a GGUF keeps its file's types for None/'native'/its own preset."""
    ts = (TensorSpec("token_embd.weight", (256, 64), ggml_type="Q4_K"),
          TensorSpec("output_norm.weight", (256,), ggml_type="F32"))
    spec = replace(LLAMA8B, tensor_list=ts, file_type="Q4_K_M", tie_embeddings=True)
    assert tensor_types(spec, None) == {"token_embd.weight": "Q4_K", "output_norm.weight": "F32"}
    assert tensor_types(spec, "native") == tensor_types(spec, "Q4_K_M")
    assert tensor_types(spec, "Q8_0")["token_embd.weight"] == "Q8_0"  # tied: output rule keeps Q8_0
    with pytest.raises(UserError):
        tensor_types(LLAMA8B, None)
    with pytest.raises(UserError, match="MLX"):
        tensor_types(LLAMA8B, "mlx-4bit")
