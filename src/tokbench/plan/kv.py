"""KV cache and recurrent state: bytes per token, per layer kind, as llama.cpp allocates them.

Facts from the llama.cpp that llama-cpp-python 0.3.36 vendors:

- ``src/llama-context.cpp``: ``n_ctx`` is padded to a multiple of 256; with one stream per sequence
  (``kv_unified = false``) each stream holds ``pad256(n_ctx / n_seq)`` cells.
- ``src/llama-kv-cache.cpp``: every attention layer owns K ``[n_embd_k_gqa, kv_size, n_stream]`` and
  V ``[n_embd_v_gqa, kv_size, n_stream]`` tensors of ``type_k`` / ``type_v`` (row size =
  ggml_row_size). MLA layers (``hparams.is_mla()``) keep K only: V is a view into the latent K.
- ``src/llama-kv-cache-iswa.cpp``: sliding-window layers get their own cache of
  ``pad256(min(kv_size, n_swa * (unified ? n_seq : 1) + n_ubatch))`` cells per stream.
- ``src/models/deepseek2.cpp`` + ``conversion/deepseek.py``: MLA is stored as MQA with one KV head of
  ``kv_lora_rank + qk_rope_head_dim`` elements (576 for DeepSeek-V3).
- ``src/llama-memory-recurrent.cpp`` + ``src/llama-hparams.cpp`` (n_embd_r / n_embd_s): each
  recurrent (Gated DeltaNet) layer keeps, per sequence, a conv state of
  ``(d_conv - 1) * (d_inner + 2 * n_group * d_state)`` and a recurrent state of ``d_state * d_inner``
  elements, both F32. For Qwen3-Next / Qwen3.5, d_inner = v_heads * v_dim, n_group = k_heads and
  d_state = k_dim. Mamba-2 layers (Nemotron-H, kind "mamba") keep the same two states
  (``n_embd_r``/``n_embd_s`` are shared by both), with d_inner = heads * head_dim, n_group groups.
- ``src/llama-kv-cache-dsa.cpp``: DeepSeek-V3.2 (kind "dsa") keeps the MLA cache plus a lightning-indexer
  key cache of one ``indexer_head_size`` head per token and layer (K only, like MLA).
- ``src/models/gemma4.cpp``: Gemma 4's sliding layers have their own head size and KV head count
  (``key_length_swa``, per-layer ``head_count_kv``); its last ``shared_kv_layers`` layers reuse earlier
  layers' caches and allocate none (``n_layer_kv_from_start``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tokbench.errors import unknown
from tokbench.modelspec.model import RECURRENT_KINDS, ModelSpec

# KV cache types a user can pick (llama.cpp's --cache-type-k/-v values we model).
KV_TYPES = ("f16", "bf16", "f32", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1")
PAD = 256  # llama.cpp pads n_ctx and the SWA cache to 256 cells
DEFAULT_UBATCH = 512  # llama.cpp's default n_ubatch
STATE_BYTES_PER_ELEMENT = 4  # recurrent state is F32 in llama.cpp (create_memory: GGML_TYPE_F32)


def parse_kv_type(name: str) -> str:
    """Canonical lower-case KV cache type; UserError with close matches for anything else."""
    key = name.strip().lower()
    if key not in KV_TYPES:
        raise unknown("KV cache type", name, KV_TYPES)
    return key


def _pad(n: int, to: int = PAD) -> int:
    return -(-n // to) * to


def kv_row_bytes(kv_type: str, n: int) -> int:
    """Bytes of ``n`` cache elements stored as ``kv_type`` (ggml_row_size, block sizes from quant.formats)."""
    from tokbench.quant.formats import row_nbytes

    return row_nbytes(parse_kv_type(kv_type).upper(), n)


def layer_kv_widths(spec: ModelSpec, kind: str) -> tuple[int, int]:
    """(K elements, V elements) one token adds to one layer of ``kind`` (0, 0 for recurrent and FFN-only layers)."""
    if kind == "sliding" and (spec.head_dim_swa or spec.n_kv_heads_swa):
        hd, kv = spec.head_dim_swa or spec.head_dim, spec.n_kv_heads_swa or spec.n_kv_heads
        return kv * hd, kv * hd
    if kind in ("full", "sliding"):
        v_dim = spec.v_head_dim or spec.head_dim
        return spec.n_kv_heads * spec.head_dim, spec.n_kv_heads * v_dim
    if kind == "mla":
        return spec.kv_lora_rank + spec.qk_rope_dim, 0
    if kind == "dsa":
        return spec.kv_lora_rank + spec.qk_rope_dim + spec.index_head_dim, 0
    return 0, 0


def kv_bytes_per_token(spec: ModelSpec, kv_type: str = "f16", kinds: tuple[str, ...] = ("full", "mla", "dsa")) -> int:
    """KV bytes one token adds across all layers of the given kinds (default: the unbounded ones)."""
    total = 0
    for i, kind in enumerate(spec.kinds):
        if kind in kinds and spec.has_kv(i):
            k, v = layer_kv_widths(spec, kind)
            total += kv_row_bytes(kv_type, k) + (kv_row_bytes(kv_type, v) if v else 0)
    return total


def state_elements_per_layer(spec: ModelSpec) -> tuple[int, int]:
    """(conv, recurrent) state elements of one linear-attention layer for one sequence."""
    if not spec.conv_kernel and not spec.linear_v_heads:
        return 0, 0
    d_inner = spec.linear_v_heads * spec.linear_v_dim
    conv = max(spec.conv_kernel - 1, 0) * (d_inner + 2 * spec.linear_k_heads * spec.linear_k_dim)
    recurrent = spec.linear_k_dim * d_inner
    return conv, recurrent


def state_bytes_per_sequence(spec: ModelSpec, kinds: tuple[str, ...] = RECURRENT_KINDS) -> int:
    """Constant recurrent-state bytes one sequence holds across its recurrent layers (F32); ``kinds``: only
    those layer kinds (``("linear",)``: the Gated DeltaNet layers alone)."""
    n_linear = sum(1 for k in spec.kinds if k in kinds)
    conv, rec = state_elements_per_layer(spec)
    return n_linear * (conv + rec) * STATE_BYTES_PER_ELEMENT


@dataclass(frozen=True)
class KVCache:
    """Cache memory for a context and concurrency, split the way llama.cpp allocates it."""

    kv_bytes: int  # attention caches (full + sliding + MLA)
    state_bytes: int  # recurrent state (linear-attention layers)
    cells: dict[str, int] = field(default_factory=dict)  # cells per stream, per layer kind (llama.cpp's kv_size)
    streams: int = 1  # one per sequence unless unified
    layers: dict[str, int] = field(default_factory=dict)  # number of layers per kind
    bytes_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        """KV plus state."""
        return self.kv_bytes + self.state_bytes


def kv_cache(
    spec: ModelSpec,
    context: int,
    concurrency: int = 1,
    kv_type: str = "f16",
    n_ubatch: int = DEFAULT_UBATCH,
    unified: bool = False,
    swa_full: bool = False,
) -> KVCache:
    """Bytes llama.cpp allocates for ``concurrency`` sequences of ``context`` tokens each.

    ``unified`` mirrors llama.cpp's ``kv_unified`` (one stream shared by all sequences); the default
    (one stream per sequence) is what llama.cpp uses unless told otherwise.
    """
    if context <= 0 or concurrency <= 0:
        raise ValueError("context and concurrency must be positive")
    n_seq = concurrency
    n_ctx = _pad(context * n_seq)
    if unified:
        per_stream, n_stream = n_ctx, 1
    else:
        per_stream, n_stream = _pad(n_ctx // n_seq), n_seq
    swa_cells = per_stream if swa_full else _pad(min(per_stream, spec.sliding_window * (n_seq if unified else 1) + n_ubatch))
    cells = {"full": per_stream, "mla": per_stream, "dsa": per_stream, "sliding": swa_cells}
    by_kind: dict[str, int] = {}
    layers: dict[str, int] = {}
    rows = _kind_rows(spec, kv_type)
    for i, kind in enumerate(spec.kinds):
        layers[kind] = layers.get(kind, 0) + 1
        if kind not in cells or not spec.has_kv(i):
            continue
        row = rows[kind]
        by_kind[kind] = by_kind.get(kind, 0) + row * cells[kind] * n_stream
    state = state_bytes_per_sequence(spec) * max(1, n_seq)
    if state:
        recurrent = [k for k in RECURRENT_KINDS if k in layers]
        for k in recurrent:  # one state size per model: split by the layers of each recurrent kind
            by_kind[k] = state * layers[k] // sum(layers[r] for r in recurrent)
    kv = sum(b for k, b in by_kind.items() if k not in RECURRENT_KINDS)
    used_cells = {k: cells[k] for k in layers if k in cells}
    return KVCache(kv_bytes=kv, state_bytes=state, cells=used_cells, streams=n_stream, layers=layers,
                   bytes_by_kind=by_kind)


def _kind_rows(spec: ModelSpec, kv_type: str) -> dict[str, int]:
    """K + V row bytes of one token in one layer, per attention kind of ``spec`` (the same for every layer
    of a kind: computed once per kind, not once per layer, which a ranking of the catalog asks thousands
    of times)."""
    rows = {}
    for kind in set(spec.kinds):
        k, v = layer_kv_widths(spec, kind)
        rows[kind] = kv_row_bytes(kv_type, k) + (kv_row_bytes(kv_type, v) if v else 0)
    return rows


def kv_read_bytes(spec: ModelSpec, depth: int, kv_type: str = "f16") -> int:
    """KV bytes one decode step of one sequence reads at context ``depth`` (no padding: only used cells)."""
    total = 0
    rows = _kind_rows(spec, kv_type)
    for kind in spec.kinds:
        if kind in RECURRENT_KINDS or kind == "ffn":
            continue
        if kind == "dsa":
            # the indexer scores every cached key; attention then reads only the top-k latent rows
            mla = spec.kv_lora_rank + spec.qk_rope_dim
            total += kv_row_bytes(kv_type, spec.index_head_dim) * depth
            total += kv_row_bytes(kv_type, mla) * min(depth, spec.index_topk or depth)
            continue
        row = rows[kind]
        cells = min(depth, spec.sliding_window) if kind == "sliding" and spec.sliding_window else depth
        total += row * cells
    return total
