"""Tiny ModelSpecs, one per architecture tensors.py models, for fast GGUF round trips and load checks."""

from __future__ import annotations

from tokbench.modelspec.model import ModelSpec

VOCAB = 320  # 3 specials + 256 byte tokens + fillers (see gguf_spec_writer.tokenizer_tokens)


def tiny_specs() -> dict[str, ModelSpec]:
    """GGUF arch -> a small spec exercising that architecture's optional parts."""
    base = dict(n_layers=4, hidden=64, n_heads=4, n_kv_heads=2, head_dim=16, vocab=VOCAB, context_length=512)
    hybrid = dict(base, attn_output_gate=True, qk_norm=True, layer_kinds=("linear", "linear", "linear", "full"),
                  linear_k_heads=2, linear_v_heads=4, linear_k_dim=16, linear_v_dim=16, conv_kernel=4, rope_dim=8,
                  n_experts=4, n_experts_used=2, expert_ffn=32, shared_expert_ffn=32)
    return {
        "llama": ModelSpec(name="tiny-llama", arch="llama", intermediate=128, **base),
        "qwen2": ModelSpec(name="tiny-qwen2", arch="qwen2", intermediate=128, qkv_bias=True, tie_embeddings=True,
                           **dict(base, head_dim=16)),
        "qwen3": ModelSpec(name="tiny-qwen3", arch="qwen3", intermediate=128, qk_norm=True, **base),
        "qwen3moe": ModelSpec(name="tiny-qwen3moe", arch="qwen3moe", qk_norm=True, n_experts=8, n_experts_used=2,
                              expert_ffn=32, **base),
        "qwen3next": ModelSpec(name="tiny-qwen3next", arch="qwen3next", **hybrid),
        "qwen35moe": ModelSpec(name="tiny-qwen35moe", arch="qwen35moe", rope_sections=(2, 1, 1, 0), **hybrid),
        "gpt-oss": ModelSpec(name="tiny-gpt-oss", arch="gpt-oss", qkv_bias=True, n_experts=4, n_experts_used=2,
                             expert_ffn=64, sliding_window=32,
                             layer_kinds=("sliding", "full", "sliding", "full"), **base),
        "deepseek2": ModelSpec(name="tiny-deepseek2", arch="deepseek2", intermediate=128, n_experts=4, n_experts_used=2,
                               expert_ffn=32, shared_expert_ffn=32, n_dense_layers=1, layer_kinds=("mla",) * 4,
                               q_lora_rank=32, kv_lora_rank=32, qk_rope_dim=8, qk_nope_dim=16, v_head_dim=16,
                               expert_probs_bias=True, **dict(base, n_kv_heads=4, head_dim=24)),
        "gemma3": ModelSpec(name="tiny-gemma3", arch="gemma3", intermediate=128, qk_norm=True, tie_embeddings=True,
                            sliding_window=32, layer_kinds=("sliding",) * 5 + ("full",),
                            **dict(base, n_layers=6)),
    }
