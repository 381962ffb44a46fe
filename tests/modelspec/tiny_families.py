"""Tiny ModelSpecs of the architectures of tokbench.modelspec.families (one or more per family).

Widths are multiples of 256 so K-quant rules apply as in real models; each spec exercises its
family's optional parts (Gemma 4's KV sharing, per-layer embeddings and MoE; Nemotron-H's three
layer kinds, with and without experts; DeepSeek-V3.2's indexer; Llama 4's chunked layers and
interleaved MoE). Llama 4's window is llama.cpp's fixed 8192 so a GGUF round trip is exact.
"""

from __future__ import annotations

from tokbench.modelspec.model import ModelSpec

VOCAB = 1024
_BASE = dict(n_layers=4, hidden=256, n_heads=4, n_kv_heads=2, head_dim=64, vocab=VOCAB, context_length=512)
_NEMO = dict(layer_kinds=("mamba", "ffn", "full", "ffn", "mamba", "ffn"), linear_v_heads=8, linear_v_dim=32,
             linear_k_heads=2, linear_k_dim=32, conv_kernel=4, gated_ffn=False)


def tiny_families() -> dict[str, ModelSpec]:
    """key -> spec (keys name the variant; ``spec.arch`` is the GGUF architecture)."""
    b = _BASE
    return {
        "qwen35": ModelSpec(name="t-qwen35", arch="qwen35", intermediate=512, attn_output_gate=True, qk_norm=True,
                            layer_kinds=("linear", "linear", "linear", "full"), linear_k_heads=2, linear_v_heads=4,
                            linear_k_dim=64, linear_v_dim=64, conv_kernel=4, rope_dim=16, rope_sections=(3, 3, 2, 0), **b),
        "glm4moe": ModelSpec(name="t-glm4moe", arch="glm4moe", intermediate=512, qkv_bias=True, n_experts=8,
                             n_experts_used=2, expert_ffn=256, shared_expert_ffn=256, n_dense_layers=1,
                             expert_probs_bias=True, rope_dim=32, **b),
        "glm4moe-qknorm": ModelSpec(name="t-glm4moe-qk", arch="glm4moe", intermediate=512, qk_norm=True, n_experts=8,
                                    n_experts_used=2, expert_ffn=256, shared_expert_ffn=256, n_dense_layers=1,
                                    expert_probs_bias=True, **b),
        "minimax-m2": ModelSpec(name="t-minimax", arch="minimax-m2", qk_norm_full=True, n_experts=8, n_experts_used=2,
                                expert_ffn=256, expert_probs_bias=True, rope_dim=32, **b),
        "llama4": ModelSpec(name="t-llama4", arch="llama4", intermediate=512, n_experts=4, n_experts_used=1,
                            expert_ffn=256, shared_expert_ffn=256, moe_layer_step=2, sliding_window=8192,
                            layer_kinds=("sliding", "sliding", "sliding", "full"), **b),
        "nemotron_h": ModelSpec(name="t-nemo", arch="nemotron_h", intermediate=512, **_NEMO, **dict(b, n_layers=6)),
        "nemotron_h-gqa4": ModelSpec(name="t-nemo4", arch="nemotron_h", intermediate=512, **_NEMO,
                                     **dict(b, n_layers=6, n_heads=8, n_kv_heads=2, head_dim=32)),
        "nemotron_h_moe": ModelSpec(name="t-nemo-moe", arch="nemotron_h_moe", n_experts=8, n_experts_used=2,
                                    expert_ffn=256, shared_expert_ffn=256, expert_probs_bias=True, **_NEMO,
                                    **dict(b, n_layers=6)),
        "deepseek32": ModelSpec(name="t-ds32", arch="deepseek32", intermediate=512, n_experts=4, n_experts_used=2,
                                expert_ffn=256, shared_expert_ffn=256, n_dense_layers=1, layer_kinds=("dsa",) * 4,
                                q_lora_rank=64, kv_lora_rank=64, qk_rope_dim=32, qk_nope_dim=64, v_head_dim=64,
                                expert_probs_bias=True, index_n_heads=4, index_head_dim=64, index_topk=32,
                                **dict(b, n_kv_heads=4, head_dim=96)),
        "gemma4": ModelSpec(name="t-gemma4", arch="gemma4", intermediate=512, qk_norm=True, tie_embeddings=True,
                            sliding_window=64, layer_kinds=("sliding",) * 5 + ("full",), head_dim_swa=64,
                            n_kv_heads_swa=2, attn_k_eq_v=True, **dict(b, n_layers=6, head_dim=128, n_kv_heads=1)),
        "gemma4-shared-ple": ModelSpec(name="t-gemma4e", arch="gemma4", intermediate=512, qk_norm=True,
                                       tie_embeddings=True, sliding_window=64,
                                       layer_kinds=(("sliding",) * 5 + ("full",)) * 2, head_dim_swa=64,
                                       n_kv_heads_swa=1, kv_shared_layers=6, wide_ffn_shared=True, per_layer_embd=64,
                                       **dict(b, n_layers=12, head_dim=128, n_kv_heads=1)),
        "gemma4-moe": ModelSpec(name="t-gemma4moe", arch="gemma4", intermediate=256, qk_norm=True, tie_embeddings=True,
                                sliding_window=64, layer_kinds=("sliding",) * 5 + ("full",), head_dim_swa=64,
                                n_kv_heads_swa=2, n_experts=8, n_experts_used=2, expert_ffn=128, ffn_with_moe=True,
                                attn_k_eq_v=True, **dict(b, n_layers=6, head_dim=128, n_kv_heads=1)),
    }
