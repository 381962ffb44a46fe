"""GGUF architecture metadata (``{arch}.*`` keys) that llama.cpp needs to load a ModelSpec.

Which keys each architecture reads, and which are required, comes from llama.cpp's loaders
(``llama_model_base::load_hparams`` in src/llama-model.cpp and ``load_arch_hparams`` in
src/models/<arch>.cpp of the llama.cpp vendored by llama-cpp-python 0.3.36); the value conventions
(e.g. DeepSeek's MLA key lengths, Qwen3-Next's ssm_* mapping) from its conversion/*.py scripts.
Values that do not change speed (rope base, norm epsilon) get the architectures' usual defaults.
"""

from __future__ import annotations

from tokbench.modelspec.model import ModelSpec

KV = tuple[str, str, object]  # (key, value type, value); types as in tokbench.synth.gguf

# Architectures this module writes metadata for (GGUF names).
ARCHES = ("llama", "qwen2", "qwen3", "qwen3moe", "qwen3next", "qwen35moe", "gpt-oss", "deepseek2", "gemma3",
          "qwen35", "glm4moe", "minimax-m2", "llama4", "nemotron_h", "nemotron_h_moe", "deepseek32", "gemma4")
DEFAULT_CONTEXT = 4096


def _common(spec: ModelSpec, vocab_size: int) -> list[KV]:
    a = spec.arch
    out: list[KV] = [
        (f"{a}.context_length", "u32", spec.context_length or DEFAULT_CONTEXT),
        (f"{a}.embedding_length", "u32", spec.hidden),
        (f"{a}.block_count", "u32", spec.n_layers),
        (f"{a}.attention.head_count", "u32", spec.n_heads),
        (f"{a}.attention.head_count_kv", "u32", spec.n_kv_heads),
        (f"{a}.attention.key_length", "u32", spec.head_dim),
        (f"{a}.attention.value_length", "u32", spec.head_dim),
        (f"{a}.rope.dimension_count", "u32", getattr(spec, "rope_dim", 0) or spec.head_dim),
        (f"{a}.rope.freq_base", "f32", 10000.0 if a == "llama" else 1000000.0),
        (f"{a}.attention.layer_norm_rms_epsilon", "f32", 1e-6),
        (f"{a}.vocab_size", "u32", vocab_size),
    ]
    if spec.intermediate:
        out.append((f"{a}.feed_forward_length", "u32", spec.intermediate))
    if spec.is_moe:
        out += [
            (f"{a}.expert_count", "u32", spec.n_experts),
            (f"{a}.expert_used_count", "u32", spec.n_experts_used),
            (f"{a}.expert_feed_forward_length", "u32", spec.expert_ffn),
        ]
        if spec.shared_expert_ffn:
            out.append((f"{a}.expert_shared_feed_forward_length", "u32", spec.shared_expert_ffn))
    return out


def _sliding(spec: ModelSpec) -> list[KV]:
    """Sliding-window layers as an explicit per-layer bool array (load_swa_pattern reads it first)."""
    a = spec.arch
    if not spec.sliding_window or "sliding" not in spec.kinds:
        return []
    return [
        (f"{a}.attention.sliding_window", "u32", spec.sliding_window),
        (f"{a}.attention.sliding_window_pattern", "arr_bool", [k == "sliding" for k in spec.kinds]),
    ]


def _linear_attention(spec: ModelSpec) -> list[KV]:
    """Gated DeltaNet (qwen3next, qwen35moe): ssm_* keys as conversion/qwen.py maps them."""
    a = spec.arch
    recurrent = [k == "linear" for k in spec.kinds]
    # partial_rotary_factor 0.25 in Qwen3-Next / Qwen3.5 when the spec does not say
    rope_dim = getattr(spec, "rope_dim", 0) or max(2, spec.head_dim // 4)
    out: list[KV] = [
        (f"{a}.ssm.conv_kernel", "u32", spec.conv_kernel),
        (f"{a}.ssm.state_size", "u32", spec.linear_k_dim),
        (f"{a}.ssm.group_count", "u32", spec.linear_k_heads),
        (f"{a}.ssm.time_step_rank", "u32", spec.linear_v_heads),
        (f"{a}.ssm.inner_size", "u32", spec.linear_v_dim * spec.linear_v_heads),
        (f"{a}.attention.recurrent_layers", "arr_bool", recurrent),
        (f"{a}.full_attention_interval", "u32", _interval(recurrent)),
        (f"{a}.rope.dimension_count", "u32", rope_dim),
    ]
    if a in ("qwen35moe", "qwen35"):
        # M-RoPE sections (required key); they sum to half the rotary dimensions.
        third = rope_dim // 2 // 3
        sections = list(getattr(spec, "rope_sections", ()) or [rope_dim // 2 - 2 * third, third, third])
        out.append((f"{a}.rope.dimension_sections", "arr_i32", (sections + [0, 0, 0, 0])[:4]))
    return out


def _interval(recurrent: list[bool]) -> int:
    """Distance between full-attention layers (llama.cpp's default pattern when the array is absent)."""
    full = [i for i, r in enumerate(recurrent) if not r]
    return full[0] + 1 if full else len(recurrent) + 1


def _mla(spec: ModelSpec) -> list[KV]:
    """DeepSeek MLA as MQA with wide heads (conversion/deepseek.py, non-OCR branch)."""
    a = spec.arch
    out: list[KV] = [
        (f"{a}.attention.head_count_kv", "u32", 1),
        (f"{a}.attention.kv_lora_rank", "u32", spec.kv_lora_rank),
        (f"{a}.attention.key_length", "u32", spec.kv_lora_rank + spec.qk_rope_dim),
        (f"{a}.attention.value_length", "u32", spec.kv_lora_rank),
        (f"{a}.attention.key_length_mla", "u32", spec.qk_nope_dim + spec.qk_rope_dim),
        (f"{a}.attention.value_length_mla", "u32", spec.v_head_dim),
        (f"{a}.rope.dimension_count", "u32", spec.qk_rope_dim),
        (f"{a}.leading_dense_block_count", "u32", spec.n_dense_layers),
        (f"{a}.expert_shared_count", "u32", 1 if spec.shared_expert_ffn else 0),
        (f"{a}.expert_weights_norm", "bool", True),
        (f"{a}.expert_gating_func", "u32", 2),  # sigmoid (DeepSeek-V3)
    ]
    if spec.q_lora_rank:
        out.append((f"{a}.attention.q_lora_rank", "u32", spec.q_lora_rank))
    return out


def _experts_extra(spec: ModelSpec) -> list[KV]:
    """Routing keys of glm4moe / minimax-m2 / llama4 / deepseek32 (load_arch_hparams of each)."""
    a = spec.arch
    out: list[KV] = []
    if a in ("glm4moe", "deepseek32", "minimax-m2"):
        out += [(f"{a}.expert_gating_func", "u32", 2), (f"{a}.expert_weights_norm", "bool", True),
                (f"{a}.expert_weights_scale", "f32", 1.0)]
    if a in ("glm4moe", "deepseek32"):
        out += [(f"{a}.expert_shared_count", "u32", spec.shared_expert_ffn // max(spec.expert_ffn, 1)),
                (f"{a}.leading_dense_block_count", "u32", spec.n_dense_layers)]
    if a == "minimax-m2":
        out.append((f"{a}.feed_forward_length", "u32", spec.expert_ffn))  # its loader sizes the experts by n_ff
    if a == "llama4":
        out.append((f"{a}.interleave_moe_layer_step", "u32", spec.moe_layer_step))
        if "sliding" not in spec.kinds:
            out.append((f"{a}.attention.sliding_window", "u32", 0))  # llama.cpp: 0 turns chunked attention off
    if a == "deepseek32":
        out += [(f"{a}.attention.indexer.head_count", "u32", spec.index_n_heads),
                (f"{a}.attention.indexer.key_length", "u32", spec.index_head_dim),
                (f"{a}.attention.indexer.top_k", "u32", spec.index_topk)]
    return out


def _nemotron_h(spec: ModelSpec) -> list[KV]:
    """Mamba-2 hybrids: per-layer KV-head and FFN arrays tell llama.cpp each layer's kind
    (models/nemotron-h.cpp: recurrent when both are 0)."""
    a = spec.arch
    ff = spec.expert_ffn if spec.is_moe else spec.intermediate
    out: list[KV] = [
        (f"{a}.ssm.conv_kernel", "u32", spec.conv_kernel),
        (f"{a}.ssm.inner_size", "u32", spec.linear_v_heads * spec.linear_v_dim),
        (f"{a}.ssm.state_size", "u32", spec.linear_k_dim),
        (f"{a}.ssm.time_step_rank", "u32", spec.linear_v_heads),
        (f"{a}.ssm.group_count", "u32", spec.linear_k_heads),
        (f"{a}.attention.head_count_kv", "arr_u32", [spec.n_kv_heads if k == "full" else 0 for k in spec.kinds]),
        (f"{a}.feed_forward_length", "arr_u32", [ff if k == "ffn" else 0 for k in spec.kinds]),
        (f"{a}.attention.layer_norm_epsilon", "f32", 1e-5),
    ]
    if spec.is_moe:
        out += [(f"{a}.expert_shared_count", "u32", 1), (f"{a}.expert_weights_norm", "bool", True),
                (f"{a}.expert_weights_scale", "f32", 1.0)]
    return out


def _gemma4(spec: ModelSpec) -> list[KV]:
    """Gemma 4: per-layer KV heads and FFN widths, separate sliding-layer head size and RoPE."""
    a = spec.arch
    hd_swa = spec.head_dim_swa or spec.head_dim
    kv_swa = spec.n_kv_heads_swa or spec.n_kv_heads
    first_shared = spec.n_layers - spec.kv_shared_layers
    ff = [spec.intermediate * (2 if spec.wide_ffn_shared and i >= first_shared else 1) for i in range(spec.n_layers)]
    return [
        (f"{a}.attention.sliding_window", "u32", spec.sliding_window or 512),
        (f"{a}.attention.sliding_window_pattern", "arr_bool", [k == "sliding" for k in spec.kinds]),
        (f"{a}.attention.shared_kv_layers", "u32", spec.kv_shared_layers),
        (f"{a}.attention.head_count_kv", "arr_u32", [kv_swa if k == "sliding" else spec.n_kv_heads for k in spec.kinds]),
        (f"{a}.attention.key_length_swa", "u32", hd_swa),
        (f"{a}.attention.value_length_swa", "u32", hd_swa),
        (f"{a}.rope.dimension_count", "u32", spec.head_dim),
        (f"{a}.rope.dimension_count_swa", "u32", hd_swa),
        (f"{a}.rope.freq_base_swa", "f32", 10000.0),
        (f"{a}.embedding_length_per_layer_input", "u32", spec.per_layer_embd),
        (f"{a}.feed_forward_length", "arr_u32", ff),
    ]


def arch_kv(spec: ModelSpec, vocab_size: int) -> list[KV]:
    """The ``{arch}.*`` keys for ``spec`` (later entries override earlier ones with the same key)."""
    if spec.arch not in ARCHES:
        raise ValueError(f"no GGUF metadata for architecture '{spec.arch}'")
    kv = _common(spec, vocab_size) + _sliding(spec)
    if "linear" in spec.kinds:
        kv += _linear_attention(spec)
    if spec.kv_lora_rank:
        kv += _mla(spec)
    kv += _experts_extra(spec)
    if spec.arch in ("nemotron_h", "nemotron_h_moe"):
        kv += _nemotron_h(spec)
    if spec.arch == "gemma4":
        kv += _gemma4(spec)
    if spec.arch == "gemma3":
        kv.append(("gemma3.rope.freq_base_swa", "f32", 10000.0))
    merged: dict[str, KV] = {}
    for entry in kv:
        merged[entry[0]] = entry
    return list(merged.values())
