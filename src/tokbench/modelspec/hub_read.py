"""Headers of Hub files: from the tokbench header cache, a local copy in the HF cache, or range reads.

Order of preference, cheapest first: a parsed header cached for this commit (no I/O), the file
itself when huggingface_hub has downloaded it (read locally, header only), then HTTP ranges. With
HF_HUB_OFFLINE set, only the first two. A header is cached only once it parsed and verified, so a
malformed file leaves nothing behind.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from tokbench.errors import UserError
from tokbench.modelspec import hub_io
from tokbench.modelspec.gguf_header import GGUFArray, GGUFHeader, GGUFTensorInfo
from tokbench.modelspec.mlx_dir import MAX_HEADER, SafetensorInfo

SAFETENSORS_HEAD = 64 << 10  # one request covers most shard headers (a few KB to ~100 KB)


def _local(man, filename: str) -> Path | None:
    """The file when huggingface_hub has it in its cache for this commit."""
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(man.repo, filename, cache_dir=hub_io.hub_cache_dir(), revision=man.commit)
    return Path(hit) if isinstance(hit, str) and Path(hit).is_file() else None


def _offline_missing(man, filename: str) -> UserError:
    return UserError(f"{man.repo}/{filename}: header not cached and HF_HUB_OFFLINE is set; plan it once online")


# --- GGUF ----------------------------------------------------------------------------------------


def _to_json(value: Any) -> Any:
    if isinstance(value, GGUFArray):
        return {"__gguf_array__": [value.elem_type, value.length]}
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict) and "__gguf_array__" in value:
        elem, length = value["__gguf_array__"]
        return GGUFArray(elem, length)
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    return value


def _header_doc(h: GGUFHeader) -> dict[str, Any]:
    return {"gguf": h.version, "alignment": h.alignment, "data_offset": h.data_offset, "size": h.size,
            "metadata": {k: _to_json(v) for k, v in h.metadata.items()},
            "tensors": [[t.name, list(t.shape), t.ggml_type, t.offset, t.nbytes] for t in h.tensors]}


def _header_from_doc(doc: dict[str, Any]) -> GGUFHeader | None:
    try:
        tensors = tuple(GGUFTensorInfo(n, tuple(s), ty, o, b) for n, s, ty, o, b in doc["tensors"])
        meta = {k: _from_json(v) for k, v in doc["metadata"].items()}
        return GGUFHeader(doc["gguf"], meta, tensors, doc["alignment"], doc["data_offset"], doc["size"])
    except (KeyError, TypeError, ValueError):
        return None  # a damaged cache entry: read the file again


def gguf_header(man, filename: str, traffic: hub_io.Traffic) -> GGUFHeader:
    """The header of a GGUF file of ``man`` (see module docstring)."""
    from tokbench.modelspec.gguf_header import parse_gguf_header
    from tokbench.modelspec.gguf_remote import read_remote_header

    doc = hub_io.load_cached(man.repo, man.commit, filename)
    header = _header_from_doc(doc) if doc else None
    if header is not None:
        return header
    local = _local(man, filename)
    if local is not None:
        header = parse_gguf_header(local)
    elif hub_io.offline():
        raise _offline_missing(man, filename)
    else:
        size = man.files.get(filename, 0)
        src = hub_io.HubRange(man.repo, filename, man.commit, size, traffic)
        header = read_remote_header(size, src.read, f"{man.repo}/{filename}").header
        traffic.files.append(filename)
    hub_io.store_cached(man.repo, man.commit, filename, _header_doc(header))
    return header


# --- safetensors ---------------------------------------------------------------------------------


def _parse_st(raw: bytes, size: int, label: str) -> tuple[SafetensorInfo, ...]:
    from tokbench.modelspec.mlx_dir import parse_safetensors_header

    if len(raw) < 8:
        raise UserError(f"{label}: truncated safetensors file (no header length)")
    (n,) = struct.unpack_from("<Q", raw)
    if n > min(MAX_HEADER, size - 8):
        raise UserError(f"{label}: truncated or corrupt safetensors file (header claims {n} bytes, file has {size})")
    return parse_safetensors_header(raw[8:8 + n], size - 8 - n, label)


def safetensors_header(man, filename: str, traffic: hub_io.Traffic) -> tuple[SafetensorInfo, ...]:
    """The tensor table of a safetensors shard of ``man`` (see module docstring)."""
    from tokbench.modelspec.mlx_dir import read_safetensors_header

    doc = hub_io.load_cached(man.repo, man.commit, filename)
    if doc and isinstance(doc.get("safetensors"), list):
        try:
            return tuple(SafetensorInfo(n, d, tuple(s), b) for n, d, s, b in doc["safetensors"])
        except (TypeError, ValueError):
            pass
    local = _local(man, filename)
    label = f"{man.repo}/{filename}"
    if local is not None:
        tensors = read_safetensors_header(local)
    elif hub_io.offline():
        raise _offline_missing(man, filename)
    else:
        size = man.files.get(filename, 0)
        src = hub_io.HubRange(man.repo, filename, man.commit, size, traffic)
        raw = src.read(0, min(size, SAFETENSORS_HEAD)) if size else b""
        if len(raw) >= 8:
            (n,) = struct.unpack_from("<Q", raw)
            if 8 + n > len(raw) and n <= min(MAX_HEADER, size - 8):
                raw += src.read(len(raw), 8 + n - len(raw))
        tensors = _parse_st(raw, size, label)
        traffic.files.append(filename)
    hub_io.store_cached(man.repo, man.commit, filename,
                        {"safetensors": [[t.name, t.dtype, list(t.shape), t.nbytes] for t in tensors]})
    return tensors
