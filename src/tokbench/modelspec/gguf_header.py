"""Read a GGUF file's header (metadata and tensor list, never tensor data) into a ModelSpec.

Why our own parser instead of ``gguf.GGUFReader`` (gguf 0.19), measured on this machine: the
reader builds a numpy view per metadata element in Python loops, so a 15 GB Qwen2.5-7B-shaped F16
file with a real-sized tokenizer (152k tokens, 151k merges; 6.4 MB header) takes 9.3 s to open
(this parser: 0.03 s). It did not allocate on hostile counts (2^40 tensors, a 2^60-element array),
but it failed with assorted ValueError / IndexError messages ("cannot reshape array of size
2792 into shape (128,64)") rather than a clean error, and it maps tensor data too. This parser
checks every count against the bytes that remain before it loops, keeps only short arrays
(long tokenizer arrays are summarised by type and length), caps the strings walked per header,
and turns every malformed input into one UserError line.

Format facts (GGUF v2/v3, little-endian): magic "GGUF", u32 version, u64 tensor count, u64 kv count,
then key/value pairs, then tensor infos (name, u32 n_dims, u64 dims, u32 ggml type, u64 offset),
then tensor data at the next multiple of general.alignment (default 32). Source: ggml/docs/gguf.md
and ggml/src/gguf.cpp in the llama.cpp tree vendored by llama-cpp-python 0.3.36.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokbench.errors import UserError
from tokbench.modelspec.check import check_spec
from tokbench.modelspec.model import ModelSpec, TensorSpec

# ggml type id -> (name, block size, bytes per block); ggml/include/ggml.h and ggml/src/ggml.c.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18), 42: ("Q2_0", 64, 18),
}

# general.file_type (enum llama_ftype, include/llama.h) -> preset name as users type it.
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
    36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0", 41: "Q2_0",
}

# Metadata value types: id -> (struct code, size); 8 = string and 9 = array are handled apart.
_SCALARS: dict[int, tuple[str, int]] = {
    0: ("B", 1), 1: ("b", 1), 2: ("H", 2), 3: ("h", 2), 4: ("I", 4), 5: ("i", 4), 6: ("f", 4),
    7: ("?", 1), 10: ("Q", 8), 11: ("q", 8), 12: ("d", 8),
}
_TYPE_NAMES = {0: "u8", 1: "i8", 2: "u16", 3: "i16", 4: "u32", 5: "i32", 6: "f32", 7: "bool", 8: "string",
               9: "array", 10: "u64", 11: "i64", 12: "f64"}
_STRING, _ARRAY = 8, 9

MAX_KEPT_ARRAY = 65536  # longer arrays (tokenizer vocab, merges, scores) are summarised, not kept
MAX_STRING_ITEMS = 8_000_000  # strings walked per header: bounds the time a hostile header can cost
MAX_COUNT = 1 << 24  # tensors / key-value pairs: far above any real model (DeepSeek-V3: ~1,100 tensors)
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_DEPTH = 3  # nested arrays
MAX_LAYERS = 512  # LLAMA_MAX_LAYERS (src/llama-hparams.h): llama.cpp refuses more blocks


@dataclass(frozen=True)
class GGUFArray:
    """A metadata array too long to keep: its element type and length only."""

    elem_type: str
    length: int


@dataclass(frozen=True)
class GGUFTensorInfo:
    """One tensor-info record: name, GGUF-order shape, ggml type name, data offset and size."""

    name: str
    shape: tuple[int, ...]
    ggml_type: str
    offset: int
    nbytes: int


@dataclass(frozen=True)
class GGUFHeader:
    """What a GGUF header says: version, metadata (long arrays summarised) and tensor infos."""

    version: int
    metadata: dict[str, Any]
    tensors: tuple[GGUFTensorInfo, ...]
    alignment: int
    data_offset: int  # where tensor data starts
    size: int  # bytes available (file size or len of the input)

    @property
    def arch(self) -> str | None:
        """general.architecture, when it is a string."""
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None


def one_line(text: str) -> str:
    """``text`` with control characters escaped: names read from a hostile file (a tensor name with
    a newline) must not break the one-line error contract (found by tests/fuzz)."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


class _Reader:
    """Bounds-checked little-endian reads over a buffer (bytes or an mmap)."""

    def __init__(self, buf: Any, size: int, label: str) -> None:
        self.buf, self.size, self.pos, self.label = buf, size, 0, label
        self.strings_left = MAX_STRING_ITEMS

    def fail(self, what: str) -> UserError:
        return UserError(f"{self.label}: not a valid GGUF file ({one_line(what)})")

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise self.fail(f"truncated: {what} at byte {self.pos} needs {n} bytes, {self.size - self.pos} left")

    def skip(self, n: int, what: str) -> None:
        """Step over ``n`` bytes whose content is not needed (long numeric arrays)."""
        self.need(n, what)
        self.pos += n

    def scalar(self, code: str, size: int, what: str) -> Any:
        self.need(size, what)
        (value,) = struct.unpack_from("<" + code, self.buf, self.pos)
        self.pos += size
        return value

    def u32(self, what: str) -> int:
        return self.scalar("I", 4, what)

    def u64(self, what: str) -> int:
        return self.scalar("Q", 8, what)

    def count(self, what: str, min_item: int, cap: int = MAX_COUNT) -> int:
        """A u64 count, refused when its items could not fit in the bytes left (or exceed ``cap``)."""
        n = self.u64(what)
        if n > cap or n * min_item > self.size - self.pos:
            raise self.fail(f"{what} {n} cannot fit in the {self.size - self.pos} bytes left")
        return n

    def string(self, what: str) -> str:
        self.strings_left -= 1
        if self.strings_left < 0:
            raise self.fail(f"more than {MAX_STRING_ITEMS} strings in the header")
        n = self.u64(f"{what} length")
        self.need(n, what)
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not UTF-8") from None

    def _limit(self, pos: int) -> int:
        """How far from ``pos`` the buffer can be read without a check (a sparse reader: less)."""
        return self.size

    def strings(self, n: int, what: str) -> tuple[str, ...]:
        """``n`` strings, as :meth:`string` reads them (same errors), in one tight loop: a kept
        65,536-entry tokenizer array costs ~30 ms rather than ~300 ms."""
        self.strings_left -= n
        if self.strings_left < 0:
            raise self.fail(f"more than {MAX_STRING_ITEMS} strings in the header")
        unpack, out = struct.unpack_from, []
        pos, buf, avail = self.pos, self.buf, self._limit(self.pos)
        for _ in range(n):
            if pos + 8 > avail:
                self.pos = pos
                self.need(8, f"{what} length")
                buf, avail = self.buf, self._limit(pos)
            end = pos + 8 + unpack("<Q", buf, pos)[0]
            if end > avail:
                self.pos = pos + 8
                self.need(end - pos - 8, what)
                buf, avail = self.buf, self._limit(pos + 8)
            try:
                out.append(bytes(buf[pos + 8:end]).decode("utf-8"))
            except UnicodeDecodeError:
                self.pos = pos + 8
                raise self.fail(f"{what} is not UTF-8") from None
            pos = end
        self.pos = pos
        return tuple(out)

    def skip_strings(self, n: int, what: str) -> None:
        """Walk ``n`` strings without decoding them (long tokenizer arrays)."""
        self.strings_left -= n
        if self.strings_left < 0:
            raise self.fail(f"more than {MAX_STRING_ITEMS} strings in the header")
        unpack, buf, pos, size = struct.unpack_from, self.buf, self.pos, self.size
        for _ in range(n):
            if pos + 8 > size:
                raise self.fail(f"truncated inside {what}")
            pos += 8 + unpack("<Q", buf, pos)[0]
        if pos > size:
            raise self.fail(f"truncated inside {what}")
        self.pos = pos


def _value(r: _Reader, vtype: int, key: str, depth: int = 0) -> Any:
    """One metadata value of type ``vtype``."""
    if vtype in _SCALARS:
        code, size = _SCALARS[vtype]
        return r.scalar(code, size, f"value of {key}")
    if vtype == _STRING:
        return r.string(f"value of {key}")
    if vtype != _ARRAY:
        raise r.fail(f"key {key} has unknown value type {vtype}")
    if depth >= MAX_DEPTH:
        raise r.fail(f"key {key} nests arrays deeper than {MAX_DEPTH}")
    etype = r.u32(f"array type of {key}")
    if etype in _SCALARS:
        code, size = _SCALARS[etype]
        n = r.count(f"array length of {key}", size, cap=1 << 62)
        if n > MAX_KEPT_ARRAY:
            r.skip(n * size, f"array {key}")
            return GGUFArray(_TYPE_NAMES[etype], n)
        r.need(n * size, f"array {key}")
        values = struct.unpack_from(f"<{n}{code}", r.buf, r.pos)
        r.pos += n * size
        return values
    if etype == _STRING:
        n = r.count(f"array length of {key}", 8, cap=1 << 62)
        if n > MAX_KEPT_ARRAY:
            r.skip_strings(n, f"array {key}")
            return GGUFArray("string", n)
        return r.strings(n, f"element of {key}")
    if etype == _ARRAY:
        n = r.count(f"array length of {key}", 12, cap=MAX_KEPT_ARRAY)
        return tuple(_value(r, _ARRAY, key, depth + 1) for _ in range(n))
    raise r.fail(f"array {key} has unknown element type {etype}")


def _tensor_info(r: _Reader, index: int) -> tuple[str, tuple[int, ...], int, int]:
    name = r.string(f"name of tensor {index}")
    n_dims = r.u32(f"dimension count of {name}")
    if not 1 <= n_dims <= MAX_DIMS:
        raise r.fail(f"tensor {name} has {n_dims} dimensions (1 to {MAX_DIMS} allowed)")
    shape = tuple(r.u64(f"shape of {name}") for _ in range(n_dims))
    type_id = r.u32(f"type of {name}")
    offset = r.u64(f"offset of {name}")
    return name, shape, type_id, offset


def _check_tensor(r: _Reader, name: str, shape: tuple[int, ...], type_id: int, offset: int, alignment: int) -> GGUFTensorInfo:
    """Validate one tensor info the way ggml's gguf.cpp does and compute its byte size."""
    if type_id not in GGML_TYPES:
        raise r.fail(f"tensor {name} has unknown ggml type {type_id}")
    type_name, block, type_size = GGML_TYPES[type_id]
    n = 1
    for d in shape:
        if d < 1:
            raise r.fail(f"tensor {name} has a zero dimension {shape}")
        n *= d
        if n >= 1 << 62:
            raise r.fail(f"tensor {name} shape {shape} overflows")
    if shape[0] % block:
        raise r.fail(f"tensor {name}: row length {shape[0]} is not a multiple of {type_name}'s block size {block}")
    if offset % alignment:
        raise r.fail(f"tensor {name}: data offset {offset} is not a multiple of the alignment {alignment}")
    return GGUFTensorInfo(name, shape, type_name, offset, n // block * type_size)


def _parse(r: _Reader, require_data: bool) -> GGUFHeader:
    r.need(4, "magic")
    if bytes(r.buf[0:4]) != b"GGUF":
        raise r.fail(f"magic is {bytes(r.buf[0:4])!r}, expected b'GGUF'")
    r.pos = 4
    version = r.u32("version")
    if version not in (2, 3):
        hint = "; a big-endian file?" if version in (0x02000000, 0x03000000) else ""
        raise r.fail(f"unsupported version {version}{hint}")
    n_tensors = r.count("tensor count", 32)  # name length 8 + n_dims 4 + one dim 8 + type 4 + offset 8
    n_kv = r.count("metadata count", 12)  # key length (8) + value type (4) at least
    metadata: dict[str, Any] = {}
    for i in range(n_kv):
        key = r.string(f"key {i}")
        if key in metadata:
            raise r.fail(f"duplicate key {key}")
        metadata[key] = _value(r, r.u32(f"value type of {key}"), key)
    alignment = metadata.get("general.alignment", 32)
    if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise r.fail(f"general.alignment {alignment!r} is not a power of two")
    raw = [_tensor_info(r, i) for i in range(n_tensors)]
    tensors, seen = [], set()
    for name, shape, type_id, offset in raw:
        if name in seen:
            raise r.fail(f"duplicate tensor {name}")
        seen.add(name)
        tensors.append(_check_tensor(r, name, shape, type_id, offset, alignment))
    data_offset = -(-r.pos // alignment) * alignment
    if require_data:
        for t in tensors:
            if data_offset + t.offset + t.nbytes > r.size:
                raise UserError(f"{r.label}: truncated GGUF file (tensor {t.name} ends at byte "
                                f"{data_offset + t.offset + t.nbytes}, file has {r.size})")
    return GGUFHeader(version, metadata, tuple(tensors), alignment, data_offset, r.size)


def parse_gguf_header(source: bytes | bytearray | memoryview | str | Path, require_data: bool = True) -> GGUFHeader:
    """Parse a GGUF header from bytes or a file path; UserError (one line) on any malformed input.

    Only the header is read (a file is memory-mapped, so its tensor data is never touched). Memory
    and time are bounded by the header's real size: every count is checked against the bytes left
    before it is used. With ``require_data`` every tensor's data must lie inside the input.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return _parse(_Reader(data, len(data), "<bytes>"), require_data)
    path = Path(source)
    try:
        with open(path, "rb") as fh:
            size = path.stat().st_size
            if size < 4:
                raise UserError(f"{path}: not a valid GGUF file (truncated: {size} bytes)")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return _parse(_Reader(mm, size, str(path)), require_data)
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None


# --- ModelSpec from a header -------------------------------------------------------------------


class _Meta:
    """Typed access to ``{arch}.*`` keys; a wrong type is a UserError naming the key."""

    def __init__(self, header: GGUFHeader, arch: str, label: str) -> None:
        self.md, self.arch, self.label = header.metadata, arch, label

    def int(self, key: str, default: int | None = None) -> int:
        """Integer ``{arch}.key``; per-layer arrays give their largest entry (llama.cpp's n_*_max)."""
        full = f"{self.arch}.{key}"
        value = self.md.get(full)
        if value is None:
            if default is None:
                raise UserError(f"{self.label}: GGUF header has no '{full}'")
            return default
        if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
            value = max(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UserError(f"{self.label}: GGUF '{full}' must be a non-negative integer, got {value!r:.60}")
        return value

    def flags(self, key: str, n: int) -> tuple[bool, ...] | None:
        """A per-layer bool array (``attention.sliding_window_pattern`` as is_swa) cut to ``n`` layers
        (arrays also cover MTP layers after the last one), or None."""
        value = self.md.get(f"{self.arch}.{key}")
        if isinstance(value, tuple) and len(value) >= n:
            return tuple(bool(v) for v in value[:n])
        return None


def _layer_kinds(m: _Meta, arch: str, n_layers: int, window: int) -> tuple[str, ...]:
    """Per-layer kinds the way llama.cpp derives them from the header (see spec/hf_config.py)."""
    from tokbench.modelspec.gguf_families import layer_kinds

    kinds = layer_kinds(m, arch, n_layers, window)
    if kinds is not None:
        return kinds
    if arch == "deepseek2" and m.int("attention.kv_lora_rank", 0):
        return ("mla",) * n_layers
    if arch in ("qwen3next", "qwen35moe", "qwen35"):
        recurrent = m.flags("attention.recurrent_layers", n_layers)
        if recurrent is None:
            interval = m.int("full_attention_interval", 4) or 4
            recurrent = tuple((i + 1) % interval != 0 for i in range(n_layers))
        return tuple("linear" if r else "full" for r in recurrent)
    if window and arch in ("gpt-oss", "gemma3"):
        swa = m.flags("attention.sliding_window_pattern", n_layers)
        if swa is None:
            pattern = m.int("attention.sliding_window_pattern", 2 if arch == "gpt-oss" else 6)
            swa = tuple(pattern == 0 or i % pattern < pattern - 1 for i in range(n_layers))
        return tuple("sliding" if s else "full" for s in swa)
    return ()


def _layer_of(name: str) -> int | None:
    parts = name.split(".")
    return int(parts[1]) if len(parts) > 2 and parts[0] == "blk" and parts[1].isdigit() else None


def _int_tuple(value: Any) -> tuple[int, ...]:
    """A short array of integers as a tuple; anything else (absent, summarised, mixed) as ()."""
    if isinstance(value, tuple) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return value
    return ()


def _width(by_name: dict[str, GGUFTensorInfo], suffix: str, dim: int = 1) -> int:
    """Smallest ``shape[dim]`` of the tensors named ``*suffix`` (the file's truth for FFN widths;
    the smallest, because Gemma 4 doubles the FFN of its KV-shared layers), or 0."""
    widths = [t.shape[dim] for name, t in by_name.items() if name.endswith(suffix) and len(t.shape) > dim]
    return min(widths, default=0)


def _family_fields(m: _Meta, arch: str, fields: dict[str, Any], kv_lora: int) -> None:
    """Gated DeltaNet and MLA fields, in place (llama.cpp's names differ from config.json's)."""
    n_heads = fields["n_heads"]
    if arch in ("qwen3next", "qwen35moe", "qwen35"):
        # llama.cpp: head_k_dim = head_v_dim = ssm.state_size, k heads = group_count, v heads = time_step_rank.
        state = m.int("ssm.state_size", 0)
        fields.update(linear_k_heads=m.int("ssm.group_count", 0), linear_v_heads=m.int("ssm.time_step_rank", 0),
                      linear_k_dim=state, linear_v_dim=state, conv_kernel=m.int("ssm.conv_kernel", 0))
    if kv_lora:
        # MLA GGUFs store head_count_kv = 1 and key_length = kv_lora_rank + rope; the per-head sizes
        # are key_length_mla / value_length_mla. Report the decompressed (MHA) view like hf_config.
        rope = fields["rope_dim"]
        k_mla = m.int("attention.key_length_mla", fields["head_dim"])
        fields.update(kv_lora_rank=kv_lora, q_lora_rank=m.int("attention.q_lora_rank", 0), qk_rope_dim=rope,
                      qk_nope_dim=max(k_mla - rope, 0), v_head_dim=m.int("attention.value_length_mla", 0),
                      head_dim=k_mla, n_kv_heads=n_heads, rope_dim=0)


def spec_from_header(header: GGUFHeader, label: str, name: str | None = None) -> ModelSpec:
    """ModelSpec from a parsed header: hparams from ``{arch}.*`` keys, the file's exact tensor list."""
    arch = header.arch
    if arch is not None and one_line(arch) != arch:
        raise UserError(f"{label}: GGUF general.architecture {one_line(arch)!r:.60} is not a name")
    if not arch:
        raise UserError(f"{label}: GGUF header has no general.architecture")
    from tokbench.modelspec.tensors import known_architectures

    if arch not in known_architectures():  # its layer kinds (KV, state) would be guesses
        raise UserError(f"{label}: GGUF architecture '{arch}' is not one tokbench models "
                        f"(known: {', '.join(known_architectures())})")
    m = _Meta(header, arch, label)
    n_layers = m.int("block_count")
    hidden = m.int("embedding_length")
    n_heads = m.int("attention.head_count", 0)
    if not (n_layers and hidden and n_heads):
        raise UserError(f"{label}: GGUF block_count, embedding_length and attention.head_count must be positive")
    if n_layers > MAX_LAYERS:
        raise UserError(f"{label}: GGUF {arch}.block_count {n_layers} exceeds llama.cpp's limit of {MAX_LAYERS}")
    # MTP blocks (nextn) come after the last layer: llama.cpp skips them unless asked, so they are
    # counted apart, like a multimodal projector in its own file.
    n_mtp = m.int("nextn_predict_layers", 0)
    if n_mtp >= n_layers:
        raise UserError(f"{label}: GGUF {arch}.nextn_predict_layers {n_mtp} leaves no layers of {n_layers}")
    top = max((_layer_of(t.name) or 0 for t in header.tensors), default=0)
    if top >= n_layers:  # tensors past the last block (and its MTP blocks): the count lies
        raise UserError(f"{label}: inconsistent GGUF header: {arch}.block_count is {n_layers} but the file holds "
                        f"tensors of layer {top}")
    n_layers -= n_mtp
    trunk = [t for t in header.tensors if (_layer_of(t.name) or 0) < n_layers]
    mtp_bytes = sum(t.nbytes for t in header.tensors) - sum(t.nbytes for t in trunk)
    by_name = {t.name: t for t in trunk}
    embd = by_name.get("token_embd.weight")
    vocab = embd.shape[1] if embd and len(embd.shape) == 2 else m.int("vocab_size", 0)
    if not vocab:
        tokens = header.metadata.get("tokenizer.ggml.tokens")
        vocab = tokens.length if isinstance(tokens, GGUFArray) else len(tokens or ())
    window = m.int("attention.sliding_window", 0)
    kv_lora = m.int("attention.kv_lora_rank", 0) if arch in ("deepseek2", "deepseek32") else 0
    fields: dict[str, Any] = {
        "name": name or str(header.metadata.get("general.name") or Path(label).stem),
        "arch": arch,
        "n_layers": n_layers,
        "hidden": hidden,
        "n_heads": n_heads,
        "n_kv_heads": m.int("attention.head_count_kv", n_heads) or n_heads,
        "head_dim": m.int("attention.key_length", hidden // n_heads),
        "vocab": vocab,
        "intermediate": _width(by_name, "ffn_up.weight"),
        "tie_embeddings": "output.weight" not in by_name,
        "qkv_bias": any(t.name.endswith("attn_q.bias") for t in trunk),
        "qk_norm": any(t.name.endswith("attn_q_norm.weight") for t in trunk),
        "attn_output_gate": arch in ("qwen3next", "qwen35moe", "qwen35"),
        "layer_kinds": _layer_kinds(m, arch, n_layers, window),
        "sliding_window": window,
        "n_experts": m.int("expert_count", 0),
        "n_experts_used": m.int("expert_used_count", 0),
        "expert_ffn": _width(by_name, "ffn_up_exps.weight") or m.int("expert_feed_forward_length", 0),
        "n_dense_layers": m.int("leading_dense_block_count", 0),
        "context_length": m.int("context_length", 0),
        "rope_dim": m.int("rope.dimension_count", 0),
        "rope_sections": _int_tuple(header.metadata.get(f"{arch}.rope.dimension_sections")),
        "expert_probs_bias": any(t.name.endswith("exp_probs_b.bias") for t in trunk),
        "source": label,
        "file_type": FILE_TYPES.get(header.metadata.get("general.file_type")),  # type: ignore[arg-type]
        "weights_bytes": sum(t.nbytes for t in trunk),
        "tensor_list": tuple(TensorSpec(t.name, t.shape, _layer_of(t.name), t.ggml_type) for t in trunk),
        "n_mtp_layers": n_mtp,
        "apart": (("mtp", mtp_bytes),) if mtp_bytes else (),
    }
    if fields["rope_dim"] == fields["head_dim"]:
        fields["rope_dim"] = 0  # whole head rotates: same as a spec from config.json
    shared = m.int("expert_shared_feed_forward_length", 0) or m.int("expert_shared_count", 0) * fields["expert_ffn"]
    fields["shared_expert_ffn"] = shared
    _family_fields(m, arch, fields, kv_lora)
    from tokbench.modelspec.gguf_families import family_fields

    family_fields(m, arch, fields, set(by_name), lambda suffix, dim=1: _width(by_name, suffix, dim))
    try:
        return check_spec(ModelSpec(**fields), label, "gguf")
    except ValueError as exc:
        raise UserError(f"{label}: inconsistent GGUF header ({exc})") from None


def spec_from_gguf(path: str | Path) -> ModelSpec:
    """ModelSpec from a GGUF file's header (tensor data is never read); UserError if malformed."""
    header = parse_gguf_header(path)
    return spec_from_header(header, str(path))
