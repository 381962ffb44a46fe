"""Scaled-down variants of a ModelSpec (fewer layers, narrower) that keep its structure.

``--scale-layers N`` keeps the first N layers' kinds, so a periodic pattern (full attention every
4th layer in Qwen3-Next, 5 sliding : 1 global in Gemma 3) survives; DeepSeek keeps at least one
MoE layer after its dense lead. ``--scale-width F`` multiplies widths and head counts by F but keeps
head_dim, the GQA ratio, the expert count and each width's block divisibility (a width that is a
multiple of 256 in the real model stays one, so K-quants apply to the same tensors).
"""

from __future__ import annotations

from dataclasses import replace

from tokbench.errors import UserError
from tokbench.modelspec.model import ModelSpec

_GRAINS = (256, 128, 64, 32, 16, 8, 4, 2)


def _grain(x: int) -> int:
    """Largest block-friendly unit that divides ``x`` (1 when none does)."""
    return next((g for g in _GRAINS if x % g == 0), 1)


def scale_dim(x: int, f: float) -> int:
    """``x * f`` rounded to a multiple of ``x``'s grain (never below one grain; 0 stays 0)."""
    if x <= 0:
        return x
    g = _grain(x)
    return max(g, round(x * f / g) * g)


def _scale_heads(n: int, f: float) -> int:
    return max(1, round(n * f)) if n else 0


def scale_layers(spec: ModelSpec, n: int) -> ModelSpec:
    """``spec`` with its first ``n`` layers (UserError for n < 1 or more than the model has)."""
    if n < 1 or n > spec.n_layers:
        raise UserError(f"--scale-layers must be between 1 and {spec.n_layers} for {spec.name}, got {n}")
    dense = spec.n_dense_layers
    if spec.is_moe and dense >= n:
        dense = max(0, n - 1)  # keep at least one MoE layer, or the MoE path is never exercised
    kinds = spec.layer_kinds[:n] if spec.layer_kinds else ()
    return replace(spec, n_layers=n, layer_kinds=kinds, n_dense_layers=dense, tensor_list=None)


def scale_width(spec: ModelSpec, f: float) -> ModelSpec:
    """``spec`` with widths and head counts times ``f`` (see module docstring)."""
    if not 0 < f <= 1:
        raise UserError(f"--scale-width must be in (0, 1], got {f}")
    n_kv = _scale_heads(spec.n_kv_heads, f)
    group = spec.n_heads // spec.n_kv_heads if spec.n_kv_heads else 1
    hidden = scale_dim(spec.hidden, f)
    if spec.n_kv_heads and spec.hidden == spec.n_heads * spec.head_dim:
        # llama/qwen2 shape attn_q as (hidden, hidden): hidden must stay n_heads * head_dim, and
        # keep the real hidden's block divisibility by rounding the KV head count up.
        while n_kv < spec.n_kv_heads and (n_kv * group * spec.head_dim) % _grain(spec.hidden):
            n_kv += 1
        hidden = n_kv * group * spec.head_dim
    lin_k = _scale_heads(spec.linear_k_heads, f)
    lin_ratio = spec.linear_v_heads // spec.linear_k_heads if spec.linear_k_heads else 1
    return replace(
        spec,
        hidden=hidden,
        n_heads=n_kv * group if spec.n_kv_heads else _scale_heads(spec.n_heads, f),
        n_kv_heads=n_kv,
        intermediate=scale_dim(spec.intermediate, f),
        expert_ffn=scale_dim(spec.expert_ffn, f),
        shared_expert_ffn=scale_dim(spec.shared_expert_ffn, f),
        linear_k_heads=lin_k,
        linear_v_heads=lin_k * lin_ratio,
        q_lora_rank=scale_dim(spec.q_lora_rank, f),
        kv_lora_rank=scale_dim(spec.kv_lora_rank, f),
        tensor_list=None,
    )


def scaled(spec: ModelSpec, layers: int | None = None, width: float | None = None, vocab: int | None = None) -> ModelSpec:
    """Apply the layer, width and vocabulary changes that were asked for."""
    out = spec
    if layers is not None:
        out = scale_layers(out, layers)
    if width is not None and width != 1:
        out = scale_width(out, width)
    if vocab is not None and vocab != out.vocab:
        out = replace(out, vocab=vocab, tensor_list=None)
    if out is not spec:
        suffix = "".join(
            s for s in (f"-L{layers}" if layers else "", f"-W{width:g}" if width and width != 1 else "") if s
        )
        out = replace(out, name=spec.name + suffix)
    return out
