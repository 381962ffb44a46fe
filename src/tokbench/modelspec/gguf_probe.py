"""Find a GGUF's tensor records without walking its tokenizer (see :mod:`tokbench.modelspec.gguf_remote`).

Everything here is a search that either finds a layout the caller then verifies against the file
size, or gives up (None); it never decides the answer on its own.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from tokbench.errors import UserError
from tokbench.modelspec.gguf_header import GGUFTensorInfo, _check_tensor, _Reader, _value
from tokbench.modelspec.gguf_remote import (
    MAX_HEADER,
    WINDOW,
    NeedMore,
    Sparse,
    _long_string_array,
    _SparseReader,
    known_type,
    valid_name,
)

TAIL_WINDOW = 64 << 10  # trailing KV pairs (file type, quantize.*, split.*, a chat template) sit before the records
MAX_PROBES = 48
FINAL_RANGE = 8 * WINDOW
_MIN_CHAIN = 3  # consecutive records that identify the tensor-record section
_RUN = re.compile(rb"[A-Za-z0-9_.\-]{3,256}")
_KEY = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)+$")
_DUMMY = _Reader(b"", 0, "<probe>")


def _ensure(sp: Sparse, start: int, end: int) -> bool:
    """Fetch [start, end) if needed; False when it lies outside the file."""
    if start < 0 or end > sp.size:
        return False
    if not sp.covered(start, end):
        sp.fetch(start, max(end - start, 4096))
    return True


def record_at(sp: Sparse, p: int, alignment: int) -> tuple[GGUFTensorInfo, int] | None:
    """The tensor record starting at ``p`` and where it ends, or None if none starts there."""
    if not _ensure(sp, p, p + 8):
        return None
    (length,) = struct.unpack_from("<Q", sp.buf, p)
    if not 1 <= length <= 256 or not _ensure(sp, p, p + 8 + length + 4):
        return None
    name = bytes(sp.buf[p + 8: p + 8 + length])
    if not valid_name(name):
        return None
    q = p + 8 + length
    (n_dims,) = struct.unpack_from("<I", sp.buf, q)
    end = q + 4 + 8 * n_dims + 12
    if not 1 <= n_dims <= 4 or not _ensure(sp, p, end):
        return None
    shape = struct.unpack_from(f"<{n_dims}Q", sp.buf, q + 4)
    type_id, offset = struct.unpack_from("<IQ", sp.buf, q + 4 + 8 * n_dims)
    if not known_type(type_id):
        return None
    try:
        info = _check_tensor(_DUMMY, name.decode(), tuple(shape), type_id, offset, alignment)
    except UserError:
        return None
    return info, end


def _chain(sp: Sparse, p: int, alignment: int, limit: int) -> list[tuple[GGUFTensorInfo, int, int]]:
    """Consecutive records from ``p``: (info, start, end), at most ``limit``."""
    out = []
    while len(out) < limit:
        rec = record_at(sp, p, alignment)
        if rec is None:
            break
        out.append((rec[0], p, rec[1]))
        p = rec[1]
    return out


def _records_in(sp: Sparse, start: int, end: int, alignment: int, cut: bool = False) -> int | None:
    """Start of a run of >= 3 tensor records inside [start, end), or None; ``cut``: also one whose
    first record runs past ``end`` (fetching more)."""
    window = bytes(sp.buf[start:end])
    unpack, size = struct.unpack_from, len(window)
    for m in _RUN.finditer(window):
        p = start + m.start() - 8
        if p < start or unpack("<Q", window, m.start() - 8)[0] != len(m.group()):
            continue
        q = m.end()  # tokenizer strings are length-prefixed too: the dims and type after the name rule them out
        if q + 4 + 8 * 4 + 12 > size:
            if cut:
                if len(_chain(sp, p, alignment, _MIN_CHAIN)) == _MIN_CHAIN:
                    return p
            continue  # a record cut by a probe window's end: the search looks past it
        n_dims = unpack("<I", window, q)[0]
        if not 1 <= n_dims <= 4 or not known_type(unpack("<I", window, q + 4 + 8 * n_dims)[0]):
            continue
        if len(_chain(sp, p, alignment, _MIN_CHAIN)) == _MIN_CHAIN:
            return p
    return None


def _string_run(window: bytes) -> bool:
    """True when the window holds a chain of 16 length-prefixed UTF-8 strings (tokenizer arrays)."""
    for first in range(min(len(window), 600)):
        p, n = first, 0
        while p + 8 <= len(window) and n < 16:
            (length,) = struct.unpack_from("<Q", window, p)
            if not 1 <= length <= 512 or p + 8 + length > len(window):
                break
            try:
                window[p + 8: p + 8 + length].decode("utf-8")
            except UnicodeDecodeError:
                break
            p, n = p + 8 + length, n + 1
        if n >= 16:
            return True
    return False


def _before_records(window: bytes) -> bool:
    """True when the window looks like header content that comes before the tensor records: tokenizer
    strings, token types (small integers), SPM scores (non-positive floats) or text (chat template)."""
    if window.count(0) >= 0.9 * len(window):
        return False  # zeros: padding or zero-filled tensor data (token types are mostly 1, never 0)
    if _string_run(window):
        return True
    words = len(window) // 4
    for shift in range(4):
        ints = struct.unpack_from(f"<{(len(window) - shift) // 4}I", window, shift)
        if sum(1 for v in ints if 1 <= v <= 8) >= 0.9 * words:
            return True
        floats = struct.unpack_from(f"<{(len(window) - shift) // 4}f", window, shift)
        if sum(1 for v in floats if -1e9 <= v < 0.0) >= 0.9 * words:
            return True
    text = sum(1 for b in window if 32 <= b < 127 or b in (9, 10, 13) or b >= 0x80)
    return text >= 0.95 * len(window)


def _locate(sp: Sparse, lo: int, alignment: int) -> int | None:
    """Start of a run of tensor records in [lo, lo + MAX_HEADER), or None.

    Galloping, then binary search: windows at lo + s, 2s, 4s ... until one is past the tokenizer
    (records, zeros or data), then halving between the last two. ``lo`` is the string array we
    stopped at: its n strings take at least 8n bytes, so s starts there (a 248k-token vocabulary
    skips five probes). The buffer of fetched bytes never grows far past the header itself (a
    search from the middle of a 50 GB split would start 128 MB in)."""
    limit = min(sp.size, lo + MAX_HEADER)
    hi, step, probes = limit, max(4 * WINDOW, 8 * _long_string_array(sp, lo)), 0
    base = lo
    while probes < MAX_PROBES // 2 and base + step + WINDOW < limit:
        mid = base + step
        sp.fetch(mid, WINDOW)
        probes += 1
        found = _records_in(sp, mid, mid + WINDOW, alignment)
        if found is not None:
            return found
        if not _before_records(bytes(sp.buf[mid: mid + WINDOW])):
            hi = mid + WINDOW  # the records may end inside this window
            break
        lo, step = mid + WINDOW - 512, step * 2  # a record may straddle the window's end
    for _ in range(MAX_PROBES - probes):
        if hi - lo <= FINAL_RANGE:  # one request for the rest: a round trip costs more than 256 KiB
            sp.fetch(lo, hi - lo)
            return _records_in(sp, lo, hi, alignment, cut=True)
        mid = (lo + hi) // 2
        sp.fetch(mid, WINDOW)
        found = _records_in(sp, mid, mid + WINDOW, alignment)
        if found is not None:
            return found
        if _before_records(bytes(sp.buf[mid: mid + WINDOW])):
            lo = mid + WINDOW - 512
        else:
            hi = mid + WINDOW
    return None


def _back_one(sp: Sparse, cur: int, alignment: int) -> tuple[GGUFTensorInfo, int] | None:
    """The record that ends exactly at ``cur``."""
    if not sp.covered(max(0, cur - 320), cur):
        sp.fetch(max(0, cur - 16384), min(cur, 16384))  # walking backward: fetch ahead of the walk, once
    for n_dims in range(1, 5):
        for length in range(1, 257):
            p = cur - (8 + length + 4 + 8 * n_dims + 12)
            if p < 0 or not _ensure(sp, p, p + 8):
                continue
            if struct.unpack_from("<Q", sp.buf, p)[0] != length:
                continue
            rec = record_at(sp, p, alignment)
            if rec is not None and rec[1] == cur:
                return rec[0], p
    return None


def _tail_kvs(sp: Sparse, first: int, limit: int) -> dict[str, Any]:
    """Key/value pairs that end exactly where the first tensor record begins, found backward."""
    start = max(0, first - TAIL_WINDOW)
    sp.fetch(start, first - start)
    ends: dict[int, list[tuple[int, str, Any]]] = {}
    window = bytes(sp.buf[start:first])
    for m in _RUN.finditer(window):
        p = start + m.start() - 8
        key = m.group().decode()
        if p < start or not _KEY.match(key) or struct.unpack_from("<Q", window, m.start() - 8)[0] != len(key):
            continue
        r = _SparseReader(sp)
        r.pos = p + 8 + len(key)
        try:
            value = _value(r, r.u32(f"value type of {key}"), key)
        except (NeedMore, UserError):
            continue
        ends.setdefault(r.pos, []).append((p, key, value))
    out: dict[str, Any] = {}
    cur = first
    while cur in ends and len(out) < limit:
        p, key, value = max(ends[cur])  # the latest start: a key inside a string value cannot end here
        out[key] = value
        cur = p
    return dict(reversed(list(out.items())))


def probe_tail(sp: Sparse, lo: int, n_tensors: int, n_kv_left: int, alignment: int):
    """Tensor records and trailing KV pairs of a header whose KV section is blocked at ``lo`` by a
    long array. Returns (tail KV pairs, records in file order, end of the records) or None."""
    hit = _locate(sp, lo, alignment)
    if hit is None:
        return None
    forward = _chain(sp, hit, alignment, n_tensors + 1)
    if len(forward) > n_tensors:
        return None
    records = [(info, p) for info, p, _ in forward]
    first = hit
    for _ in range(n_tensors - len(forward)):
        back = _back_one(sp, first, alignment)
        if back is None:
            return None
        records.insert(0, back)
        first = back[1]
    tail = _tail_kvs(sp, first, max(n_kv_left - 1, 0))
    return tail, [info for info, _ in records], forward[-1][2]
