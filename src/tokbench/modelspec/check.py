"""Consistency checks of a ModelSpec, run by every reader where the spec is built.

A header or config.json can parse and still describe a model that cannot exist: 4096 used experts of
128, 4096 KV heads for 32 query heads, a key length of 0, an expert count of 0 in a file that holds
expert tensors. Downstream such a spec divides by zero or plans a 17 GB KV cache for nothing, so
:func:`check_spec` refuses it with one line naming the field as the file spells it (the GGUF key,
or the config.json key), before anything else sees it.
"""

from __future__ import annotations

from tokbench.errors import UserError
from tokbench.modelspec.model import ModelSpec

# ModelSpec field -> the GGUF key it is read from (after "{arch}."), per llama.cpp's names.
GGUF_KEYS = {
    "n_layers": "block_count", "hidden": "embedding_length", "n_heads": "attention.head_count",
    "n_kv_heads": "attention.head_count_kv", "head_dim": "attention.key_length", "vocab": "vocab_size",
    "n_experts": "expert_count", "n_experts_used": "expert_used_count", "expert_ffn": "expert_feed_forward_length",
    "sliding_window": "attention.sliding_window", "n_dense_layers": "leading_dense_block_count",
    "linear_k_heads": "ssm.group_count", "linear_v_heads": "ssm.time_step_rank", "linear_k_dim": "ssm.state_size",
    "linear_v_dim": "ssm.state_size", "conv_kernel": "ssm.conv_kernel", "kv_lora_rank": "attention.kv_lora_rank",
    "qk_rope_dim": "rope.dimension_count", "v_head_dim": "attention.value_length_mla",
    "rope_dim": "rope.dimension_count", "intermediate": "feed_forward_length",
    "q_lora_rank": "attention.q_lora_rank", "shared_expert_ffn": "expert_shared_feed_forward_length",
}
_GGUF_MLA = {"head_dim": "attention.key_length_mla", "n_kv_heads": "attention.head_count",
             "shared_expert_ffn": "expert_shared_count"}

# ModelSpec field -> the config.json key (transformers' names; per-family differences below).
CONFIG_KEYS = {
    "n_layers": "num_hidden_layers", "hidden": "hidden_size", "n_heads": "num_attention_heads",
    "n_kv_heads": "num_key_value_heads", "head_dim": "head_dim", "vocab": "vocab_size",
    "intermediate": "intermediate_size", "n_experts": "num_experts", "n_experts_used": "num_experts_per_tok",
    "expert_ffn": "moe_intermediate_size", "sliding_window": "sliding_window",
    "n_dense_layers": "first_k_dense_replace", "linear_k_heads": "linear_num_key_heads",
    "linear_v_heads": "linear_num_value_heads", "linear_k_dim": "linear_key_head_dim",
    "linear_v_dim": "linear_value_head_dim", "conv_kernel": "linear_conv_kernel_dim", "kv_lora_rank": "kv_lora_rank",
    "qk_rope_dim": "qk_rope_head_dim", "v_head_dim": "v_head_dim", "rope_dim": "partial_rotary_factor",
    "context_length": "max_position_embeddings", "q_lora_rank": "q_lora_rank",
    "shared_expert_ffn": "shared_expert_intermediate_size",
}
_CONFIG_FAMILY = {"gpt-oss": {"n_experts": "num_local_experts", "expert_ffn": "intermediate_size"},
                  "deepseek2": {"n_experts": "n_routed_experts", "shared_expert_ffn": "n_shared_experts", "head_dim": "qk_nope_head_dim + qk_rope_head_dim",
                                "n_kv_heads": "num_attention_heads"}}


# Architectures whose attention widths follow n_heads x head_dim (q) and n_kv_heads x head_dim (k) in
# every layer, as the width checks assume. A new architecture gets the other checks at once; add it
# here when its layout follows these rules (Gemma 4's global layers, for one, use another head size).
WIDTH_ARCHS = ("llama", "qwen2", "qwen3", "qwen3moe", "qwen3next", "qwen35moe", "gpt-oss", "deepseek2", "gemma3")


class _Names:
    """How the source file spells each field, for the error line."""

    def __init__(self, spec: ModelSpec, source: str) -> None:
        self.spec, self.source = spec, source

    def __call__(self, field: str) -> str:
        s = self.spec
        if self.source == "gguf":
            key = (_GGUF_MLA.get(field) if s.kv_lora_rank else None) or GGUF_KEYS.get(field, field)
            return f"{s.arch}.{key}"
        key = _CONFIG_FAMILY.get(s.arch, {}).get(field) or CONFIG_KEYS.get(field, field)
        return f"'{key}'"


def check_spec(spec: ModelSpec, label: str, source: str = "gguf") -> ModelSpec:
    """``spec`` unchanged when consistent; else UserError ``"<label>: inconsistent <file>: <field> ..."``.

    ``source`` is ``gguf`` or ``config`` (which names to use for fields). Checks: sizes and counts
    positive; KV heads divide the query heads; used experts between 1 and the expert count; the
    parts each layer kind needs (window, Gated DeltaNet sizes, MLA ranks); expert tensors only with an
    expert count; and, for a file's tensors (architectures in WIDTH_ARCHS), that the widths agree
    with their shapes.
    """
    name = _Names(spec, source)
    what = "GGUF header" if source == "gguf" else "config.json"
    try:
        _counts(spec, name)
        _kinds(spec, name)
        _shapes(spec, name)
    except _Bad as exc:
        raise UserError(f"{label}: inconsistent {what}: {exc}") from None
    return spec


class _Bad(Exception):
    pass


def _positive(spec: ModelSpec, name, *fields: str, why: str = "") -> None:
    for f in fields:
        v = getattr(spec, f)
        if v <= 0:
            raise _Bad(f"{name(f)} is {v}; it must be positive{why}")


def _counts(spec: ModelSpec, name) -> None:
    _positive(spec, name, "n_layers", "hidden", "n_heads", "n_kv_heads", "head_dim", "vocab")
    if spec.n_kv_heads > spec.n_heads or spec.n_heads % spec.n_kv_heads:
        raise _Bad(f"{name('n_kv_heads')} ({spec.n_kv_heads}) must divide {name('n_heads')} ({spec.n_heads})")
    if spec.n_experts:
        if not 1 <= spec.n_experts_used <= spec.n_experts:
            raise _Bad(f"{name('n_experts_used')} ({spec.n_experts_used}) must be between 1 and "
                       f"{name('n_experts')} ({spec.n_experts})")
        _positive(spec, name, "expert_ffn", why=" in a mixture-of-experts model")
    if not 0 <= spec.n_dense_layers <= spec.n_layers:
        raise _Bad(f"{name('n_dense_layers')} ({spec.n_dense_layers}) exceeds {name('n_layers')} ({spec.n_layers})")
    if spec.rope_dim > spec.head_dim:
        raise _Bad(f"{name('rope_dim')} ({spec.rope_dim}) exceeds {name('head_dim')} ({spec.head_dim})")


def _kinds(spec: ModelSpec, name) -> None:
    kinds = set(spec.kinds)
    if "sliding" in kinds:
        _positive(spec, name, "sliding_window", why=" when layers use sliding-window attention")
    if "linear" in kinds:
        _positive(spec, name, "linear_k_heads", "linear_v_heads", "linear_k_dim", "linear_v_dim", "conv_kernel",
                  why=" for Gated DeltaNet layers")
        if spec.linear_v_heads % spec.linear_k_heads:
            raise _Bad(f"{name('linear_k_heads')} ({spec.linear_k_heads}) must divide "
                       f"{name('linear_v_heads')} ({spec.linear_v_heads})")
    if "mla" in kinds:
        _positive(spec, name, "kv_lora_rank", "qk_rope_dim", "v_head_dim", why=" for multi-head latent attention")
        if spec.qk_rope_dim >= spec.head_dim:
            raise _Bad(f"{name('qk_rope_dim')} ({spec.qk_rope_dim}) must be less than {name('head_dim')} ({spec.head_dim})")


def _first_layers(spec: ModelSpec) -> ModelSpec:
    """``spec`` cut to its leading dense layers plus one more (the first MoE one): enough of the
    layout to see what each kind of layer holds, at a fraction of the cost of all of it."""
    from dataclasses import replace

    k = min(spec.n_layers, spec.n_dense_layers + 1 + (len(set(spec.kinds)) > 1) * 3)
    kinds = spec.kinds[:k]
    # Keep every layer kind the model has (a hybrid's first full-attention layer may come late).
    for i, kind in enumerate(spec.kinds):
        if kind not in kinds:
            kinds += (kind,)
    return replace(spec, n_layers=len(kinds), layer_kinds=kinds if spec.layer_kinds else (),
                   n_dense_layers=min(spec.n_dense_layers, len(kinds)))


def _shapes(spec: ModelSpec, name) -> None:
    """Widths read from keys against the tensors the file holds (the file's tensors are its truth);
    for a spec without a file, its architecture's layout (e.g. gpt-oss has experts in every layer)."""
    by_role: dict[str, tuple[str, tuple[int, ...]]] = {}
    layers: set[int] = set()
    expert_layers: set[int] = set()
    where = "the file holds" if spec.tensor_list is not None else f"the {spec.arch} layout has"
    try:
        tensors = spec.tensor_list if spec.tensor_list is not None else _first_layers(spec).tensors()
    except ValueError:  # an architecture without a modelled layout: nothing to compare
        return
    for t in tensors:
        by_role.setdefault(t.role + (".bias" if t.is_bias else ""), (t.name, t.shape))
        if t.layer is not None:
            layers.add(t.layer)
            if t.is_expert:
                expert_layers.add(t.layer)
    if spec.tensor_list is not None and layers and layers != set(range(spec.n_layers)):
        held = f"layers {min(layers)}-{max(layers)}" if len(layers) == max(layers) - min(layers) + 1 else \
            f"{len(layers)} layers"
        raise _Bad(f"{name('n_layers')} is {spec.n_layers} but {where} tensors of {held}")
    expert = next((n for n, _ in by_role.values() if "_exps" in n), None)
    if expert and not spec.n_experts:
        raise _Bad(f"{name('n_experts')} is 0 but {where} expert tensors ({expert})")
    if expert_layers and min(expert_layers) < spec.n_dense_layers:
        raise _Bad(f"{name('n_dense_layers')} is {spec.n_dense_layers} but layer {min(expert_layers)} holds experts")
    # A layout built from the spec itself agrees with its widths by construction; a file's may not.
    if spec.tensor_list is not None and spec.arch in WIDTH_ARCHS:
        _widths(spec, name, by_role)


def _widths(spec: ModelSpec, name, by_role: dict) -> None:
    def width(role: str, dim: int, field: str, want: int | tuple[int, ...], text: str) -> None:
        hit = by_role.get(role)
        if hit is None or len(hit[1]) <= dim:
            return
        wants = want if isinstance(want, tuple) else (want,)
        if hit[1][dim] not in wants:
            raise _Bad(f"{text} ({wants[0]}) does not match tensor {hit[0]} of shape {hit[1]} ({name(field)})")

    width("token_embd", 0, "hidden", spec.hidden, f"{name('hidden')}")
    q = spec.n_heads * spec.head_dim
    if not spec.kv_lora_rank:
        width("attn_q", 0, "hidden", spec.hidden, f"{name('hidden')}")
        width("attn_q", 1, "n_heads", (q, 2 * q) if spec.attn_output_gate else q,
              f"{name('n_heads')} x {name('head_dim')}")
        width("attn_k", 1, "n_kv_heads", spec.n_kv_heads * spec.head_dim, f"{name('n_kv_heads')} x {name('head_dim')}")
    # MLA (DeepSeek): q (or its low-rank b half) is heads x (nope + rope); k_b/v_b are per head.
    width("attn_kv_a_mqa", 1, "kv_lora_rank", spec.kv_lora_rank + spec.qk_rope_dim,
          f"{name('kv_lora_rank')} + {name('qk_rope_dim')}")
    if spec.kv_lora_rank:
        width("attn_q", 1, "n_heads", q, f"{name('n_heads')} x {name('head_dim')}")
        width("attn_q_b", 1, "n_heads", q, f"{name('n_heads')} x {name('head_dim')}")
        width("attn_q_a", 1, "q_lora_rank", spec.q_lora_rank, name("q_lora_rank"))
        width("attn_k_b", 2, "n_heads", spec.n_heads, name("n_heads"))
        width("attn_k_b", 0, "head_dim", spec.qk_nope_dim, f"{name('head_dim')} - {name('qk_rope_dim')}")
        width("attn_v_b", 1, "v_head_dim", spec.v_head_dim, name("v_head_dim"))
    if spec.n_experts:
        for role in ("ffn_up_exps", "ffn_gate_exps", "ffn_down_exps"):
            width(role, 2, "n_experts", spec.n_experts, name("n_experts"))
        width("ffn_gate_inp", 1, "n_experts", spec.n_experts, name("n_experts"))
        width("ffn_up_shexp", 1, "shared_expert_ffn", spec.shared_expert_ffn, f"{name('shared_expert_ffn')} width")
