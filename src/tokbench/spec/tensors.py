"""The GGUF tensor list of a ModelSpec, per architecture, as llama.cpp's loader expects it.

Names and shapes follow llama.cpp (src/llama-model.cpp, ``create_tensor`` calls per architecture):
synthesized files must load there, and the planner's weight bytes are summed over this list.
"""

from __future__ import annotations

from collections.abc import Callable

from tokbench.spec.model import ModelSpec, TensorSpec

Builder = Callable[[ModelSpec], list[TensorSpec]]


def _t(name: str, *shape: int, layer: int | None = None) -> TensorSpec:
    return TensorSpec(name=name, shape=tuple(int(s) for s in shape), layer=layer)


def _head(spec: ModelSpec) -> list[TensorSpec]:
    out = [_t("token_embd.weight", spec.hidden, spec.vocab), _t("output_norm.weight", spec.hidden)]
    if not spec.tie_embeddings:
        out.append(_t("output.weight", spec.hidden, spec.vocab))
    return out


def _attention(spec: ModelSpec, i: int) -> list[TensorSpec]:
    """Standard GQA attention block (llama, qwen2, qwen3 and their MoE variants)."""
    q, kv = spec.n_heads * spec.head_dim, spec.n_kv_heads * spec.head_dim
    p = f"blk.{i}."
    out = [
        _t(p + "attn_norm.weight", spec.hidden, layer=i),
        _t(p + "attn_q.weight", spec.hidden, q, layer=i),
        _t(p + "attn_k.weight", spec.hidden, kv, layer=i),
        _t(p + "attn_v.weight", spec.hidden, kv, layer=i),
        _t(p + "attn_output.weight", q, spec.hidden, layer=i),
    ]
    if spec.qkv_bias:
        out += [_t(p + "attn_q.bias", q, layer=i), _t(p + "attn_k.bias", kv, layer=i), _t(p + "attn_v.bias", kv, layer=i)]
    if spec.qk_norm:
        out += [_t(p + "attn_q_norm.weight", spec.head_dim, layer=i), _t(p + "attn_k_norm.weight", spec.head_dim, layer=i)]
    return out


def _dense_ffn(spec: ModelSpec, i: int, width: int | None = None) -> list[TensorSpec]:
    ff = width or spec.intermediate
    p = f"blk.{i}."
    return [
        _t(p + "ffn_norm.weight", spec.hidden, layer=i),
        _t(p + "ffn_gate.weight", spec.hidden, ff, layer=i),
        _t(p + "ffn_up.weight", spec.hidden, ff, layer=i),
        _t(p + "ffn_down.weight", ff, spec.hidden, layer=i),
    ]


def _moe_ffn(spec: ModelSpec, i: int) -> list[TensorSpec]:
    p, e, ff = f"blk.{i}.", spec.n_experts, spec.expert_ffn
    return [
        _t(p + "ffn_norm.weight", spec.hidden, layer=i),
        _t(p + "ffn_gate_inp.weight", spec.hidden, e, layer=i),
        _t(p + "ffn_gate_exps.weight", spec.hidden, ff, e, layer=i),
        _t(p + "ffn_up_exps.weight", spec.hidden, ff, e, layer=i),
        _t(p + "ffn_down_exps.weight", ff, spec.hidden, e, layer=i),
    ]


def _llama_like(spec: ModelSpec) -> list[TensorSpec]:
    out = _head(spec)
    for i in range(spec.n_layers):
        out += _attention(spec, i)
        out += _moe_ffn(spec, i) if spec.is_moe_layer(i) else _dense_ffn(spec, i)
    return out


BUILDERS: dict[str, Builder] = {
    "llama": _llama_like,
    "qwen2": _llama_like,
    "qwen3": _llama_like,
    "qwen3moe": _llama_like,
}


def tensors_for(spec: ModelSpec) -> tuple[TensorSpec, ...]:
    """The tensor list for ``spec``'s architecture; ValueError for an architecture we don't model."""
    try:
        builder = BUILDERS[spec.arch]
    except KeyError:
        raise ValueError(f"no tensor layout for architecture '{spec.arch}' (known: {', '.join(sorted(BUILDERS))})") from None
    return tuple(builder(spec))
