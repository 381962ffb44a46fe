"""Files for fake-Hub tests: a GGUF llama.cpp itself wrote (llama_model_quantize of a synth model with a
real-size vocabulary), its gguf-split-style split set, and small safetensors/MLX repos."""

from __future__ import annotations

import ctypes
import json
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np


def llama_quantized(tmp: Path, preset: str = "Q4_K_M", vocab="real", model: str = "qwen3.5-35b-a3b") -> Path:
    """A 2-layer, narrow ``model`` with ``vocab`` tokens, written F16 by synth, quantized by llama.cpp."""
    import llama_cpp

    from tokbench.modelspec import load_spec
    from tokbench.quant.presets import get_preset
    from tokbench.synth import synthesize

    spec = load_spec(model)
    if spec.n_experts > 8:
        spec = replace(spec, n_experts=8, n_experts_used=2)
    f16 = synthesize(spec, "F16", tmp / "src-f16.gguf", scale_layers=4, scale_width=0.0625, vocab=vocab)
    out = tmp / f"llama-{preset}.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = get_preset(preset).ftype
    params.nthread = 2
    assert llama_cpp.llama_model_quantize(str(f16).encode(), str(out).encode(), ctypes.byref(params)) == 0
    f16.unlink()
    return out


def _kv_end(data: bytes) -> int:
    """Byte offset where the key/value section of a GGUF ends (its tensor records begin)."""
    from tokbench.modelspec.gguf_header import _Reader, _value

    r = _Reader(data, len(data), "src")
    r.pos = 24
    n_kv = struct.unpack_from("<Q", data, 16)[0]
    for i in range(n_kv):
        key = r.string(f"key {i}")
        _value(r, r.u32("type"), key)
    return r.pos


def _kv(key: str, type_id: int, fmt: str, value) -> bytes:
    raw = key.encode()
    return struct.pack("<Q", len(raw)) + raw + struct.pack("<I", type_id) + struct.pack(fmt, value)


def split_gguf(src: Path, out_dir: Path, stem: str, n_tensors_per_split: int) -> list[Path]:
    """``src`` rewritten the way llama.cpp's gguf-split writes it: the first split keeps every
    key/value pair (copied byte for byte), every split gets split.no/count/tensors.count, and each
    split holds the next ``n_tensors_per_split`` tensors, data copied, offsets rebased."""
    from tokbench.modelspec.gguf_header import GGML_TYPES, parse_gguf_header

    ids = {name: type_id for type_id, (name, _, _) in GGML_TYPES.items()}
    data = src.read_bytes()
    h = parse_gguf_header(src)
    kvs = data[24:_kv_end(data)]
    n_kv = struct.unpack_from("<Q", data, 16)[0]
    groups = [h.tensors[i:i + n_tensors_per_split] for i in range(0, len(h.tensors), n_tensors_per_split)]
    out_dir.mkdir(parents=True, exist_ok=True)
    pad = lambda n: -(-n // h.alignment) * h.alignment  # noqa: E731
    paths = []
    for i, group in enumerate(groups):
        split = (_kv("split.no", 2, "<H", i) + _kv("split.count", 2, "<H", len(groups))
                 + _kv("split.tensors.count", 5, "<i", len(h.tensors)))
        infos, body, offset = b"", bytearray(), 0
        for t in group:
            name = t.name.encode()
            infos += struct.pack("<Q", len(name)) + name + struct.pack(f"<I{len(t.shape)}Q", len(t.shape), *t.shape)
            infos += struct.pack("<IQ", ids[t.ggml_type], offset)
            blob = data[h.data_offset + t.offset: h.data_offset + t.offset + t.nbytes]
            body += blob + bytes(pad(len(blob)) - len(blob))
            offset += pad(t.nbytes)
        head = b"GGUF" + struct.pack("<IQQ", 3, len(group), (n_kv if i == 0 else 0) + 3)
        head += (kvs if i == 0 else b"") + split + infos
        head += bytes(pad(len(head)) - len(head))
        path = out_dir / f"{stem}-{i + 1:05d}-of-{len(groups):05d}.gguf"
        path.write_bytes(head + bytes(body))
        paths.append(path)
    return paths


def safetensors_bytes(tensors: dict[str, tuple[str, tuple[int, ...]]]) -> bytes:
    """A safetensors file of zeros: {name: (dtype, shape)} (BF16/F16 2 bytes, U32/F32 4)."""
    size = {"BF16": 2, "F16": 2, "F32": 4, "U32": 4, "F8_E4M3": 1}
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        n = int(np.prod(shape)) * size[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)
