"""Streaming GGUF writer: header, tensor infos, then random block data at disk speed.

File layout (GGUF v3, llama.cpp's ggml/src/gguf.cpp and docs/gguf.md): magic ``GGUF``, version,
tensor count, KV count, the KV pairs, the tensor infos (name, dims with ``ne[0]`` first, ggml type,
offset into the data section), padding to ``general.alignment`` (32), then each tensor's data, each
padded to the alignment. The header is built in memory (a 150k-token vocabulary is a few MB); tensor
data is streamed from :class:`tokbench.synth.blocks.BlockSource`, so memory stays flat whatever the size.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tokbench.errors import UserError
from tokbench.synth.blocks import BlockSource

ALIGNMENT = 32
GGUF_VERSION = 3

# ggml type ids (ggml.h enum ggml_type).
GGML_TYPE_IDS = {
    "F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q2_K": 10, "Q3_K": 11,
    "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "IQ2_XXS": 16, "IQ2_XS": 17, "IQ3_XXS": 18, "IQ1_S": 19,
    "IQ4_NL": 20, "IQ3_S": 21, "IQ2_S": 22, "IQ4_XS": 23, "IQ1_M": 29, "BF16": 30, "TQ1_0": 34,
    "TQ2_0": 35, "MXFP4": 39, "NVFP4": 40, "Q1_0": 41,
}

# gguf_type ids (gguf.h): value types of KV pairs.
_SCALARS = {"u8": (0, "<B"), "i8": (1, "<b"), "u16": (2, "<H"), "i16": (3, "<h"), "u32": (4, "<I"),
            "i32": (5, "<i"), "f32": (6, "<f"), "bool": (7, "<?"), "u64": (10, "<Q"), "i64": (11, "<q"),
            "f64": (12, "<d")}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class TensorEntry:
    """One tensor to write: GGUF name, shape (ne[0] first), ggml type and its exact byte size."""

    name: str
    shape: tuple[int, ...]
    ggml_type: str
    nbytes: int


def _pad(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _value(kind: str, value: object) -> bytes:
    """Type id + payload of one KV value (``kind``: a scalar name, ``str`` or ``arr_<scalar|str>``)."""
    if kind == "str":
        return struct.pack("<I", _STRING) + _string(str(value))
    if kind.startswith("arr_"):
        elem = kind[4:]
        items = list(value)  # type: ignore[call-overload]
        head = struct.pack("<IIQ", _ARRAY, _STRING if elem == "str" else _SCALARS[elem][0], len(items))
        if elem == "str":
            return head + b"".join(_string(s) for s in items)
        return head + struct.pack(f"<{len(items)}{_SCALARS[elem][1][1]}", *items)
    type_id, fmt = _SCALARS[kind]
    return struct.pack("<I", type_id) + struct.pack(fmt, value)


def header_bytes(kv: Sequence[tuple[str, str, object]], tensors: Sequence[TensorEntry]) -> bytes:
    """Everything before the data section, padded to the alignment."""
    parts = [b"GGUF", struct.pack("<IQQ", GGUF_VERSION, len(tensors), len(kv))]
    parts += [_string(key) + _value(kind, value) for key, kind, value in kv]
    offset = 0
    for t in tensors:
        dims = struct.pack(f"<I{len(t.shape)}Q", len(t.shape), *t.shape)
        parts.append(_string(t.name) + dims + struct.pack("<IQ", GGML_TYPE_IDS[t.ggml_type], offset))
        offset += _pad(t.nbytes)
    head = b"".join(parts)
    return head + b"\0" * (_pad(len(head)) - len(head))


def data_bytes(tensors: Iterable[TensorEntry]) -> int:
    """Size of the data section (each tensor padded to the alignment)."""
    return sum(_pad(t.nbytes) for t in tensors)


def check_disk(path: Path, need: int) -> None:
    """UserError before writing when the file system holding ``path`` has less than ``need`` bytes free."""
    free = shutil.disk_usage(path.parent).free
    if free < need:
        raise UserError(
            f"not enough disk space for {path}: need {need / 1e9:.2f} GB, {free / 1e9:.2f} GB free on that file system"
        )


def write_atomic(path: Path, size: int, body: Callable[[object], None]) -> Path:
    """Check space for ``size`` bytes, run ``body(file)`` on ``PATH.part``, rename it to ``path``.

    Any failure, including Ctrl-C, removes the partial file, so a half-written model never looks done.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    check_disk(path, size)
    part = path.with_name(path.name + ".part")
    try:
        with open(part, "wb", buffering=0) as fh:
            body(fh)
            if fh.tell() != size:
                raise RuntimeError(f"{path}: wrote {fh.tell()} bytes, expected {size}")
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return path


def write_gguf(
    path: Path,
    kv: Sequence[tuple[str, str, object]],
    tensors: Sequence[TensorEntry],
    seed: int = 0,
    chunk_bytes: int = 1 << 20,
) -> Path:
    """Write a complete GGUF file of random tensor data; returns ``path``."""
    head = header_bytes(kv, tensors)
    source = BlockSource(seed)

    def body(fh) -> None:
        _write_all(fh, head)
        buf = bytearray()  # coalesce small tensors and padding into large writes
        for t in tensors:
            for piece in source.chunks(t.name, t.ggml_type, t.nbytes):
                if len(piece) >= chunk_bytes:  # big slices of the pool go straight to the file
                    _write_all(fh, buf)
                    buf.clear()
                    _write_all(fh, piece)
                else:
                    buf += piece
                    if len(buf) >= chunk_bytes:
                        _write_all(fh, buf)
                        buf.clear()
            buf += b"\0" * (_pad(t.nbytes) - t.nbytes)
        _write_all(fh, buf)

    return write_atomic(path, len(head) + data_bytes(tensors), body)


def _write_all(fh, data) -> None:
    """Unbuffered writes may be short: loop until every byte is out."""
    view = memoryview(data)
    while view:
        n = fh.write(view)
        view = view[n:]
