"""Tensor layouts per architecture (facts from llama.cpp's loader) and parameter counts vs published."""

from __future__ import annotations

import pytest

from tokbench.catalog.models import catalog, published_params
from tokbench.modelspec import load_spec
from tokbench.modelspec.model import ModelSpec
from tokbench.modelspec.tensors import BUILDERS, tensors_for


def shapes(model: str) -> dict[str, tuple[int, ...]]:
    return {t.name: t.shape for t in load_spec(model).tensors()}


@pytest.mark.parametrize("model", sorted(catalog()))
def test_params_match_published(model):
    spec = load_spec(model)
    pub = published_params(model)
    assert spec.n_params() == pytest.approx(pub["total"], rel=0.02), pub["source"]
    if "active" in pub:
        # Model cards round active counts and differ on whether the embedding counts (Qwen counts it).
        active = spec.n_active_params()
        with_embd = active + spec.hidden * spec.vocab
        assert min(abs(active - pub["active"]), abs(with_embd - pub["active"])) / pub["active"] < 0.2


@pytest.mark.parametrize(
    "model, count",
    [
        ("llama-3.1-8b", 2 + 1 + 32 * 9),  # embd, norm, output + 9 per layer (real GGUF adds rope_freqs)
        ("qwen2.5-7b", 3 + 28 * 12),  # + q/k/v biases: 339, as in Qwen's own GGUFs
        ("qwen3-30b-a3b", 3 + 48 * 12),  # 579
        ("gpt-oss-20b", 3 + 24 * 19),  # 459
        ("deepseek-v3", 3 + 3 * 13 + 58 * 18),  # 1086 with split attn_k_b / attn_v_b
        ("gemma-3-27b", 2 + 62 * 13),  # tied output
        ("qwen3-next-80b-a3b", 3 + 36 * (2 + 8 + 8) + 12 * (2 + 6 + 8)),
        ("qwen3.5-397b-a17b", 3 + 45 * (2 + 9 + 8) + 15 * (2 + 6 + 8)),
    ],
)
def test_tensor_counts(model, count):
    assert len(load_spec(model).tensors()) == count


def test_qwen3_next_layout():
    s = shapes("qwen3-next-80b-a3b")
    # Layer 0 is Gated DeltaNet: key_dim 16*128, value_dim 32*128, conv over q, k, v.
    assert s["blk.0.attn_qkv.weight"] == (2048, 2 * 2048 + 4096)
    assert s["blk.0.attn_gate.weight"] == (2048, 4096)
    assert s["blk.0.ssm_conv1d.weight"] == (4, 8192)
    assert s["blk.0.ssm_ba.weight"] == (2048, 64)
    assert s["blk.0.ssm_a"] == (32,) and s["blk.0.ssm_dt.bias"] == (32,)
    assert s["blk.0.ssm_norm.weight"] == (128,) and s["blk.0.ssm_out.weight"] == (4096, 2048)
    assert "blk.0.attn_q.weight" not in s
    # Layer 3 is gated full attention: q is twice as wide (query + gate).
    assert s["blk.3.attn_q.weight"] == (2048, 2 * 16 * 256)
    assert s["blk.3.attn_k.weight"] == (2048, 2 * 256)
    assert s["blk.3.attn_output.weight"] == (16 * 256, 2048)
    assert s["blk.3.attn_q_norm.weight"] == (256,)
    assert s["blk.3.ffn_gate_inp_shexp.weight"] == (2048,)
    assert s["blk.3.ffn_up_exps.weight"] == (2048, 512, 512)
    assert s["blk.3.post_attention_norm.weight"] == (2048,)
    assert not any("ffn_norm" in n for n in s)


def test_qwen35_splits_beta_alpha():
    s = shapes("qwen3.5-397b-a17b")
    assert s["blk.0.ssm_beta.weight"] == (4096, 64) and s["blk.0.ssm_alpha.weight"] == (4096, 64)
    assert "blk.0.ssm_ba.weight" not in s
    assert s["blk.0.ssm_conv1d.weight"] == (4, 2 * 16 * 128 + 64 * 128)
    assert s["blk.59.attn_q.weight"] == (4096, 2 * 32 * 256)


def test_gpt_oss_layout():
    s = shapes("gpt-oss-120b")
    assert s["blk.0.attn_sinks.weight"] == (64,)
    assert s["blk.0.attn_q.bias"] == (4096,) and s["blk.0.attn_output.bias"] == (2880,)
    assert s["blk.0.ffn_gate_inp.bias"] == (128,)
    assert s["blk.0.ffn_gate_exps.bias"] == (2880, 128) and s["blk.0.ffn_down_exps.bias"] == (2880, 128)
    assert s["output.weight"] == (2880, 201088)
    assert load_spec("gpt-oss-120b").kinds[:4] == ("sliding", "full", "sliding", "full")


def test_deepseek_mla_layout():
    s = shapes("deepseek-v3")
    assert s["blk.0.attn_q_a.weight"] == (7168, 1536)
    assert s["blk.0.attn_q_b.weight"] == (1536, 128 * 192)
    assert s["blk.0.attn_kv_a_mqa.weight"] == (7168, 512 + 64)
    assert s["blk.0.attn_k_b.weight"] == (128, 512, 128)
    assert s["blk.0.attn_v_b.weight"] == (512, 128, 128)
    assert s["blk.0.attn_output.weight"] == (128 * 128, 7168)
    assert s["blk.2.ffn_up.weight"] == (7168, 18432) and "blk.2.ffn_gate_inp.weight" not in s
    assert s["blk.3.exp_probs_b.bias"] == (256,)
    assert s["blk.3.ffn_gate_shexp.weight"] == (7168, 2048)
    assert s["blk.3.ffn_down_exps.weight"] == (2048, 7168, 256)


def test_deepseek_without_q_lora_uses_attn_q():
    spec = ModelSpec(name="lite", arch="deepseek2", n_layers=1, hidden=64, n_heads=4, n_kv_heads=4, head_dim=24,
                     vocab=100, intermediate=128, layer_kinds=("mla",), kv_lora_rank=32, qk_rope_dim=8,
                     qk_nope_dim=16, v_head_dim=16)
    names = {t.name: t.shape for t in spec.tensors()}
    assert names["blk.0.attn_q.weight"] == (64, 4 * 24)
    assert not any("attn_q_a" in n for n in names)


def test_gemma3_norms_and_pattern():
    spec = load_spec("gemma-3-27b")
    s = {t.name: t.shape for t in spec.tensors()}
    for norm in ("attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"):
        assert s[f"blk.0.{norm}.weight"] == (5376,)
    assert s["blk.0.attn_q_norm.weight"] == (128,)
    assert "output.weight" not in s
    assert spec.kinds[:6] == ("sliding",) * 5 + ("full",)
    assert spec.kinds.count("full") == 10


def test_every_builder_names_layers_and_unknown_arch_fails():
    assert set(BUILDERS) >= {"llama", "qwen2", "qwen3", "qwen3moe", "qwen3next", "qwen35moe", "gpt-oss", "deepseek2", "gemma3"}
    for t in load_spec("qwen3-next-80b-a3b").tensors():
        assert (t.layer is None) == (not t.name.startswith("blk."))
    with pytest.raises(ValueError, match="no tensor layout"):
        tensors_for(ModelSpec(name="x", arch="phi3", n_layers=1, hidden=8, n_heads=1, n_kv_heads=1, head_dim=8, vocab=8))


def test_hybrid_state_sizes_match_reference():
    # shared/reference/README.md: Qwen3.5-397B-A17B has 30,720 KV bytes per token (F16) and about
    # 186 MiB of recurrent state per sequence.
    spec = load_spec("qwen3.5-397b-a17b")
    full = spec.kinds.count("full")
    assert full * 2 * spec.n_kv_heads * spec.head_dim * 2 == 30720
    state = spec.kinds.count("linear") * (spec.linear_conv_state_elems + spec.linear_ssm_state_elems) * 4
    assert state / 2**20 == pytest.approx(186, abs=1)
