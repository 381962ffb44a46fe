"""Read a GGUF header from a file we can only read in ranges (a Hub URL), fetching as little as possible.

The header is: key/value pairs (hyperparameters first, then the tokenizer arrays, then the keys
llama-quantize and gguf-split append: general.file_type, quantize.*, split.*), then one record per
tensor, then padding to ``general.alignment`` and the tensor data. A 248k-token vocabulary makes the
KV section 6-16 MB (llama.cpp's own vocab files: ggml-vocab-qwen35.gguf 5.9 MB, gemma-4 15.8 MB),
and the tensor records can only be reached by walking it, string by string. We do not need the
tokenizer, so instead of walking it we find the tensor records directly:

1. read the first 64 KiB: magic, counts and the KV pairs up to the first long string array;
2. search the rest of the header with small windows (galloping, then halving) for the tensor
   records (they are recognisable: a length-prefixed ASCII name, 1-4 dimensions, a known ggml
   type, an aligned offset); tokenizer strings or token types lie before them, tensor data after;
3. parse the records forward to their end and backward to their start (each record must end
   exactly where the next begins), and the trailing KV pairs backward from the first record;
4. verify: exactly ``tensor count`` records, non-overlapping aligned offsets, and data section
   + padding == file size. Anything that does not verify falls back to reading the whole header
   sequentially, so the result is exact either way; only the bytes fetched differ.
"""

from __future__ import annotations

import bisect
import re
import struct
from dataclasses import dataclass, field
from typing import Any, Callable

from tokbench.errors import UserError
from tokbench.modelspec.gguf_header import (
    GGML_TYPES,
    GGUFArray,
    GGUFHeader,
    GGUFTensorInfo,
    MAX_DIMS,
    _check_tensor,
    _Reader,
    _tensor_info,
    _value,
)

HEAD_BYTES = 64 << 10  # first read: hyperparameters fit in a few KB; the tokenizer starts right after
WINDOW = 32 << 10  # one probe
MAX_HEADER = 256 << 20  # no real header comes near this (Gemma 4's 262k vocabulary: 16 MB)
LONG_ARRAY = 4096  # string arrays at least this long (tokenizer) are probed around, not read
_NAME = re.compile(rb"^[A-Za-z0-9_.\-]+$")
_KEY = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)+$")

ReadFn = Callable[[int, int], bytes]


class NeedMore(Exception):
    """The parse reached bytes that were not fetched yet (``pos`` .. ``pos + n``)."""

    def __init__(self, pos: int, n: int) -> None:
        super().__init__(f"need bytes {pos}..{pos + n}")
        self.pos, self.n = pos, n


@dataclass
class Sparse:
    """The bytes of a remote file fetched so far, at their absolute positions."""

    size: int
    read: ReadFn
    label: str
    buf: bytearray = field(default_factory=bytearray)
    spans: list[tuple[int, int]] = field(default_factory=list)  # sorted, merged [start, end)
    fetched: int = 0
    requests: int = 0

    def covered(self, start: int, end: int) -> bool:
        """True when [start, end) has been fetched."""
        i = bisect.bisect_right(self.spans, (start, float("inf"))) - 1
        return i >= 0 and self.spans[i][0] <= start and end <= self.spans[i][1]

    def span_end(self, pos: int) -> int:
        """End of the fetched span that contains ``pos`` (``pos`` itself when none does)."""
        i = bisect.bisect_right(self.spans, (pos, float("inf"))) - 1
        return self.spans[i][1] if i >= 0 and self.spans[i][0] <= pos < self.spans[i][1] else pos

    def fetch(self, start: int, n: int) -> None:
        """Fetch [start, start + n) (clipped to the file): only the parts not already here."""
        start, end = max(0, start), min(self.size, start + n)
        while start < end:
            if self.covered(start, start + 1):
                start = self.span_end(start)
                continue
            gap_end = min([s for s, _ in self.spans if start < s < end] + [end])
            self._fetch_gap(start, gap_end)
            start = gap_end

    def _fetch_gap(self, start: int, end: int) -> None:
        data = self.read(start, end - start)
        if len(data) != end - start:
            raise UserError(f"{self.label}: range read returned {len(data)} bytes for {end - start} (file changed?)")
        self.fetched += len(data)
        self.requests += 1
        if len(self.buf) < end:
            self.buf.extend(bytes(end - len(self.buf)))
        self.buf[start:end] = data
        spans = sorted(self.spans + [(start, end)])
        merged: list[tuple[int, int]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        self.spans = merged


class _SparseReader(_Reader):
    """gguf_header's bounds-checked reader over a :class:`Sparse` buffer: missing bytes raise NeedMore."""

    def __init__(self, sp: Sparse) -> None:
        super().__init__(sp.buf, sp.size, sp.label)
        self.sp = sp
        self._start = self._end = 0  # [_start, _end) is fetched (spans only grow, never move)

    def need(self, n: int, what: str) -> None:
        if 0 <= n and self.pos + n <= self._end and self.pos >= self._start:
            return  # the common case, walking a fetched span (tokenizer strings): no search
        super().need(n, what)  # beyond the file: a malformed header
        if not self.sp.covered(self.pos, self.pos + n):
            raise NeedMore(self.pos, n)
        self.buf = self.sp.buf  # fetches may have grown the buffer
        self._start, self._end = self.pos, self.sp.span_end(self.pos)

    def _limit(self, pos: int) -> int:
        return self.sp.span_end(pos)  # past the fetched span, need() raises NeedMore

    def skip(self, n: int, what: str) -> None:
        _Reader.need(self, n, what)  # only the file size bounds a skip: its bytes are not read
        self.pos += n

    def skip_strings(self, n: int, what: str) -> None:
        self.strings_left -= n
        if self.strings_left < 0:
            raise self.fail("more than 8,000,000 strings in the header")
        unpack, buf, pos, size = struct.unpack_from, self.sp.buf, self.pos, self.size
        avail = self.sp.span_end(pos)  # walk the fetched span at full speed, stop where it ends
        for _ in range(n):
            if pos + 8 > avail:
                self.pos = pos
                self.need(8, f"length in {what}")  # raises NeedMore (or fails past the file's end)
                avail = self.sp.span_end(pos)
                buf = self.sp.buf
            pos += 8 + unpack("<Q", buf, pos)[0]
            if pos > size:
                raise self.fail(f"truncated inside {what}")
        self.pos = pos


@dataclass
class RemoteHeader:
    """A header read in ranges, with what it cost."""

    header: GGUFHeader
    fetched: int
    requests: int
    method: str  # "sequential" or "probe"


def _prefix(r: _SparseReader) -> tuple[int, int, int]:
    r.need(4, "magic")
    if bytes(r.buf[0:4]) != b"GGUF":
        raise r.fail(f"magic is {bytes(r.buf[0:4])!r}, expected b'GGUF'")
    r.pos = 4
    version = r.u32("version")
    if version not in (2, 3):
        raise r.fail(f"unsupported version {version}")
    return version, r.count("tensor count", 32), r.count("metadata count", 12)


def _long_string_array(sp: Sparse, pos: int) -> int:
    """Length of the string array whose KV record starts at ``pos`` (0 when it is not one)."""
    try:
        (klen,) = struct.unpack_from("<Q", sp.buf, pos)
        base = pos + 8 + klen
        vtype, etype, n = struct.unpack_from("<IIQ", sp.buf, base)
    except struct.error:
        return 0
    return n if vtype == 9 and etype == 8 else 0


def _kvs(sp: Sparse, r: _SparseReader, n_kv: int, probe: bool) -> tuple[dict[str, Any], int]:
    """KV pairs from the current position: all of them, or (probe) up to the first long string array.

    Returns the pairs and how many were read; extends the fetched prefix as parsing needs.
    """
    out: dict[str, Any] = {}
    for i in range(n_kv):
        start, budget = r.pos, r.strings_left
        while True:
            try:
                key = r.string(f"key {i}")
                if key in out:
                    raise r.fail(f"duplicate key {key}")
                out[key] = _value(r, r.u32(f"value type of {key}"), key)
                break
            except NeedMore as nm:
                r.pos, r.strings_left = start, budget  # the retry walks the same strings again
                if probe and _long_string_array(sp, start) >= LONG_ARRAY:
                    return out, i
                # grow the prefix 4x at a time: each retry walks the strings read so far again
                sp.fetch(sp.span_end(nm.pos), max(nm.pos + nm.n - sp.span_end(nm.pos), 3 * sp.span_end(0)))
    return out, n_kv


def _alignment(metadata: dict[str, Any], r: _Reader) -> int:
    alignment = metadata.get("general.alignment", 32)
    if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise r.fail(f"general.alignment {alignment!r} is not a power of two")
    return alignment


def _tensors(sp: Sparse, r: _SparseReader, n: int, alignment: int) -> list[GGUFTensorInfo]:
    out = []
    for i in range(n):
        start = r.pos
        while True:
            try:
                out.append(_check_tensor(r, *_tensor_info(r, i), alignment))
                break
            except NeedMore as nm:
                r.pos = start
                sp.fetch(nm.pos, max(nm.n, WINDOW))
    return out


def _sequential(sp: Sparse) -> GGUFHeader:
    """The whole header, read front to back (the exact fallback)."""
    r = _SparseReader(sp)
    version, n_tensors, n_kv = _prefix(r)
    metadata, _ = _kvs(sp, r, n_kv, probe=False)
    alignment = _alignment(metadata, r)
    tensors = _tensors(sp, r, n_tensors, alignment)
    return _finish(sp, version, metadata, tensors, alignment, r.pos)


def _finish(sp: Sparse, version: int, metadata: dict[str, Any], tensors: list[GGUFTensorInfo], alignment: int,
            infos_end: int) -> GGUFHeader:
    """Check names and the data layout against the file size; the header if consistent."""
    names = {t.name for t in tensors}
    if len(names) != len(tensors):
        raise UserError(f"{sp.label}: not a valid GGUF file (duplicate tensor names)")
    data_offset = -(-infos_end // alignment) * alignment
    end = 0
    for t in sorted(tensors, key=lambda t: t.offset):
        if t.offset < end:
            raise UserError(f"{sp.label}: not a valid GGUF file (tensor {t.name} overlaps the one before it)")
        end = t.offset + t.nbytes
    if data_offset + end > sp.size:
        raise UserError(f"{sp.label}: truncated GGUF file (tensor data ends at byte {data_offset + end}, file has {sp.size})")
    return GGUFHeader(version, metadata, tuple(tensors), alignment, data_offset, sp.size)


def read_remote_header(size: int, read: ReadFn, label: str) -> RemoteHeader:
    """Parse the header of a ``size``-byte GGUF that ``read(offset, n)`` returns ranges of.

    UserError (one line) when the file is not a valid GGUF. Tries the probe (module docstring),
    which needs a few hundred KiB, and reads the whole header when the probe cannot verify.
    """
    if size < 24:
        raise UserError(f"{label}: not a valid GGUF file (truncated: {size} bytes)")
    sp = Sparse(size, read, label)
    sp.fetch(0, HEAD_BYTES)
    r = _SparseReader(sp)
    version, n_tensors, n_kv = _prefix(r)
    metadata, done = _kvs(sp, r, n_kv, probe=True)
    if done == n_kv:
        alignment = _alignment(metadata, r)
        tensors = _tensors(sp, r, n_tensors, alignment)
        return RemoteHeader(_finish(sp, version, metadata, tensors, alignment, r.pos), sp.fetched, sp.requests, "sequential")
    from tokbench.modelspec.gguf_probe import probe_tail

    found = probe_tail(sp, r.pos, n_tensors, n_kv - done, _alignment(metadata, r))
    if found is not None:
        tail_kvs, tensors, infos_end = found
        skipped = _skipped_arrays(sp, r.pos)
        meta = {**metadata, **skipped, **tail_kvs}
        try:
            header = _finish(sp, version, meta, tensors, _alignment(meta, r), infos_end)
            if _consistent(header, sp.size, n_tensors):
                return RemoteHeader(header, sp.fetched, sp.requests, "probe")
        except UserError:
            pass  # the probe found something that is not this file's layout: read it all instead
    header = _sequential(sp)
    return RemoteHeader(header, sp.fetched, sp.requests, "sequential")


def _skipped_arrays(sp: Sparse, pos: int) -> dict[str, Any]:
    """The long array we stopped at, summarised like gguf_header summarises long arrays."""
    n = _long_string_array(sp, pos)
    try:
        (klen,) = struct.unpack_from("<Q", sp.buf, pos)
        key = bytes(sp.buf[pos + 8: pos + 8 + klen]).decode("utf-8")
    except (struct.error, UnicodeDecodeError):
        return {}
    return {key: GGUFArray("string", n)} if n and _KEY.match(key) else {}


def _consistent(header: GGUFHeader, size: int, n_tensors: int) -> bool:
    """Every record found, the tensors back to back from offset 0 (llama.cpp and gguf-py write them
    that way, each padded to the alignment), and data plus final padding accounting for the file."""
    if len(header.tensors) != n_tensors:
        return False
    a, pos = header.alignment, 0
    for t in sorted(header.tensors, key=lambda t: t.offset):
        if t.offset != pos:
            return False
        pos = -(-(t.offset + t.nbytes) // a) * a
    end = max((t.offset + t.nbytes for t in header.tensors), default=0)
    return header.data_offset + end <= size <= header.data_offset + pos


def valid_name(raw: bytes) -> bool:
    """A tensor or key name as GGUF writers produce them (ASCII letters, digits, _ . -)."""
    return 0 < len(raw) <= 256 and bool(_NAME.match(raw))


def known_type(type_id: int) -> bool:
    """True for a ggml type id gguf_header knows."""
    return type_id in GGML_TYPES


__all__ = ["read_remote_header", "RemoteHeader", "Sparse", "NeedMore", "MAX_DIMS", "valid_name", "known_type"]
