"""Header fields of the architectures added for current models (issue 12), as llama.cpp reads them.

The GGUF reader (:mod:`tokbench.modelspec.gguf_header`) calls :func:`layer_kinds` and
:func:`family_fields` for qwen35, glm4moe, minimax-m2, llama4, nemotron_h(_moe), deepseek32 and
gemma4. The rules follow each architecture's ``load_arch_hparams`` (``src/models/<arch>.cpp`` of the
llama.cpp vendored by llama-cpp-python 0.3.36): Nemotron-H tells a layer's kind by its per-layer KV
head and FFN arrays (recurrent when both are 0), Llama 4 uses chunked attention in 3 of 4 layers with
n_swa fixed at 8192 unless ``sliding_window`` is 0, Gemma 4 gives sliding layers their own head size
and KV head count.
"""

from __future__ import annotations

from typing import Any

LLAMA4_CHUNK = 8192  # models/llama4.cpp: hparams.n_swa = 8192 whatever the header says


def ints(m, key: str, n: int) -> tuple[int, ...] | None:
    """A per-layer integer array ``{arch}.key`` cut to ``n`` layers (MTP layers come after), or None."""
    value = m.md.get(f"{m.arch}.{key}")
    if isinstance(value, tuple) and len(value) >= n and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return value[:n]
    return None


def layer_kinds(m, arch: str, n_layers: int, window: int) -> tuple[str, ...] | None:
    """Per-layer kinds for this module's architectures; None for the others."""
    if arch in ("nemotron_h", "nemotron_h_moe"):
        kv, ff = ints(m, "attention.head_count_kv", n_layers), ints(m, "feed_forward_length", n_layers)
        if kv is None or ff is None:
            from tokbench.errors import UserError

            raise UserError(f"{m.label}: GGUF {arch} needs per-layer attention.head_count_kv and feed_forward_length arrays")
        return tuple("full" if k else ("ffn" if f else "mamba") for k, f in zip(kv, ff))
    if arch == "llama4":
        if m.md.get(f"{arch}.attention.sliding_window") == 0:
            return ("full",) * n_layers
        swa = m.flags("attention.sliding_window_pattern", n_layers)
        if swa is None:
            swa = tuple(i % 4 < 3 for i in range(n_layers))  # load_swa_pattern(ml, 4)
        return tuple("sliding" if s else "full" for s in swa)
    if arch == "gemma4":
        swa = m.flags("attention.sliding_window_pattern", n_layers)
        return tuple("sliding" if s else "full" for s in swa) if swa is not None else ("full",) * n_layers
    if arch == "deepseek32":
        return ("dsa",) * n_layers
    return None


def _gemma4(m, fields: dict[str, Any], names: set[str], n_layers: int) -> None:
    kinds = fields["layer_kinds"]
    kv = ints(m, "attention.head_count_kv", n_layers)
    full_kv = [k for k, kind in zip(kv or (), kinds) if kind == "full"]
    swa_kv = [k for k, kind in zip(kv or (), kinds) if kind == "sliding"]
    shared = m.int("attention.shared_kv_layers", 0)
    ff = ints(m, "feed_forward_length", n_layers) or ()
    first_full = next((i for i, k in enumerate(kinds) if k == "full" and i < n_layers - shared), None)
    fields.update(
        n_kv_heads=full_kv[0] if full_kv else fields["n_kv_heads"],
        n_kv_heads_swa=swa_kv[0] if swa_kv else 0,
        head_dim_swa=m.int("attention.key_length_swa", 0),
        kv_shared_layers=shared,
        per_layer_embd=m.int("embedding_length_per_layer_input", 0),
        attn_k_eq_v=first_full is not None and f"blk.{first_full}.attn_v.weight" not in names,
        wide_ffn_shared=bool(ff) and max(ff) > min(ff),
        intermediate=min(ff) if ff else fields["intermediate"],
        ffn_with_moe=fields["n_experts"] > 0,
        sliding_window=m.int("attention.sliding_window", 0),
    )
    if fields["head_dim_swa"] == fields["head_dim"]:
        fields["head_dim_swa"] = 0


def family_fields(m, arch: str, fields: dict[str, Any], names: set[str], width) -> None:
    """In place: the fields this module's architectures add (``width(suffix)`` is the reader's
    tensor-width helper, ``names`` the file's tensor names)."""
    n_layers = fields["n_layers"]
    if arch in ("nemotron_h", "nemotron_h_moe"):
        heads = m.int("ssm.time_step_rank", 0)
        fields.update(linear_v_heads=heads, linear_v_dim=m.int("ssm.inner_size", 0) // max(heads, 1),
                      linear_k_heads=m.int("ssm.group_count", 0), linear_k_dim=m.int("ssm.state_size", 0),
                      conv_kernel=m.int("ssm.conv_kernel", 0), gated_ffn=False, rope_dim=0)
    elif arch == "llama4":
        fields.update(moe_layer_step=m.int("interleave_moe_layer_step", 1) or 1,
                      shared_expert_ffn=width("ffn_up_shexp.weight"),
                      sliding_window=LLAMA4_CHUNK if "sliding" in fields["layer_kinds"] else 0)
    elif arch == "gemma4":
        _gemma4(m, fields, names, n_layers)
    elif arch == "minimax-m2":
        q_norm = width("attn_q_norm.weight", dim=0)
        if q_norm and q_norm == fields["n_heads"] * fields["head_dim"] != fields["head_dim"]:
            fields.update(qk_norm=False, qk_norm_full=True)
    elif arch == "deepseek32":
        fields.update(index_n_heads=m.int("attention.indexer.head_count", 0),
                      index_head_dim=m.int("attention.indexer.key_length", 0),
                      index_topk=m.int("attention.indexer.top_k", 0))
    if arch in ("glm4moe", "deepseek32") and not fields["shared_expert_ffn"]:
        fields["shared_expert_ffn"] = width("ffn_up_shexp.weight")
