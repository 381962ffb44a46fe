"""Read an MLX model directory (config.json + *.safetensors) into a ModelSpec and its quantization.

mlx-lm writes the quantization it applied into config.json as ``"quantization"`` (and a copy as
``"quantization_config"``): ``{"group_size": 64, "bits": 4, "mode": "affine", <module path>: {...}
or false, ...}`` where per-module entries override the defaults or mark a module unquantized
(mlx_lm/utils.py, quantize_model / load_model in mlx-lm 0.32). Safetensors headers (an 8-byte
little-endian length, then a JSON table of name -> dtype, shape, data_offsets) are read without
touching tensor data; the sum of their data spans is the directory's exact weight bytes.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tokbench.errors import UserError
from tokbench.modelspec.model import ModelSpec

MAX_HEADER = 256 * 1024 * 1024  # safetensors' own reader refuses headers over 100 MB; stay above it
MODES = ("affine", "mxfp4", "mxfp8", "nvfp4")
_DEFAULT_GROUP = {"affine": 64, "mxfp4": 32, "mxfp8": 32, "nvfp4": 16}  # mlx.core.quantize defaults


@dataclass(frozen=True)
class MLXQuant:
    """Quantization an MLX directory declares: defaults plus per-module overrides."""

    bits: int
    group_size: int
    mode: str = "affine"
    overrides: dict[str, Any] = field(default_factory=dict)  # module path -> {bits, group_size, mode} | False

    @property
    def preset(self) -> str:
        """tokbench's name for it: mlx-4bit, mlx-4bit-g32, mlx-mxfp4, mlx-nvfp4 ..."""
        if self.mode != "affine":
            return f"mlx-{self.mode}"
        suffix = "" if self.group_size == 64 else f"-g{self.group_size}"
        return f"mlx-{self.bits}bit{suffix}"


@dataclass(frozen=True)
class SafetensorInfo:
    """One tensor of a safetensors file: name, dtype, shape (row-major, as stored) and byte size."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int


@dataclass(frozen=True)
class MLXModel:
    """An MLX directory: its ModelSpec, the quantization found (None if unquantized) and tensors."""

    spec: ModelSpec
    quant: MLXQuant | None
    tensors: tuple[SafetensorInfo, ...]

    @property
    def weights_bytes(self) -> int:
        """Exact bytes of tensor data over all safetensors files (towers and MTP blocks included)."""
        return sum(t.nbytes for t in self.tensors)


def _bad(path: Path | str, what: str) -> UserError:
    return UserError(f"{path}: {what}")


def _quant_entry(value: Any, where: str, path: Path, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate one quantization dict (defaults or an override); returns bits, group_size, mode."""
    if not isinstance(value, dict):
        raise _bad(path, f"config.json '{where}' must be an object or false")
    base = defaults or {}
    mode = value.get("mode", base.get("mode", "affine"))
    if mode not in MODES:
        raise _bad(path, f"config.json '{where}.mode' {mode!r} is not one of {', '.join(MODES)}")
    out = {"mode": mode}
    for key, default in (("bits", base.get("bits", 4)), ("group_size", base.get("group_size", _DEFAULT_GROUP[mode]))):
        v = value.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise _bad(path, f"config.json '{where}.{key}' must be a positive integer, got {v!r}")
        out[key] = v
    return out


def parse_quantization(cfg: dict[str, Any], path: Path) -> MLXQuant | None:
    """The MLX quantization a config.json declares, or None (HF quant_method configs are not MLX)."""
    q = cfg.get("quantization")
    if q is None:
        q = cfg.get("quantization_config")
        if q is None or (isinstance(q, dict) and "quant_method" in q):
            return None
    if not isinstance(q, dict):
        raise _bad(path, "config.json 'quantization' must be an object")
    top = {k: v for k, v in q.items() if k in ("bits", "group_size", "mode")}
    defaults = _quant_entry(top, "quantization", path)
    overrides: dict[str, Any] = {}
    for key, value in q.items():
        if key in ("bits", "group_size", "mode"):
            continue
        overrides[key] = False if value is False else (True if value is True else _quant_entry(value, f"quantization.{key}", path, defaults))
    return MLXQuant(defaults["bits"], defaults["group_size"], defaults["mode"], overrides)


def read_safetensors_header(path: Path) -> tuple[SafetensorInfo, ...]:
    """Tensor table of one safetensors file, from its header only; UserError if malformed."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise _bad(path, "truncated safetensors file (no header length)")
            (n,) = struct.unpack("<Q", head)
            if n > min(MAX_HEADER, size - 8):
                raise _bad(path, f"truncated or corrupt safetensors file (header claims {n} bytes, file has {size})")
            raw = fh.read(n)
    except OSError as exc:
        raise _bad(path, f"cannot read ({exc.strerror or exc})") from None
    return parse_safetensors_header(raw, size - 8 - n, path)


def parse_safetensors_header(raw: bytes, data_size: int, path: Path | str) -> tuple[SafetensorInfo, ...]:
    """Tensor table from a safetensors header's JSON bytes (``data_size``: bytes after the header);
    UserError naming ``path`` if malformed. Shared by local directories and Hub range reads."""
    try:
        table = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(path, f"safetensors header is not JSON ({exc.__class__.__name__})") from None
    if not isinstance(table, dict):
        raise _bad(path, "safetensors header is not a JSON object")
    out = []
    for name, info in table.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
            ok = isinstance(dtype, str) and all(isinstance(d, int) and d >= 0 for d in shape) and 0 <= begin <= end
        except (TypeError, KeyError, ValueError):
            ok = False
        if not ok:
            raise _bad(path, f"safetensors entry {name!r} is malformed")
        if end > data_size:
            raise _bad(path, f"truncated safetensors file (tensor {name} ends at {end}, data has {data_size} bytes)")
        out.append(SafetensorInfo(name, dtype, shape, end - begin))
    return tuple(out)


def read_mlx_dir(path: str | Path) -> MLXModel:
    """Read an MLX (or plain Hugging Face safetensors) model directory; UserError if malformed."""
    from tokbench.modelspec.hf_config import spec_from_config
    from tokbench.modelspec.resolve import read_json

    root = Path(path)
    cfg_path = root / "config.json"
    if not cfg_path.is_file():
        raise _bad(root, "no config.json in the model directory")
    cfg = read_json(cfg_path)
    if not isinstance(cfg, dict):
        raise _bad(cfg_path, "config.json must be a JSON object")
    quant = parse_quantization(cfg, cfg_path)
    files = sorted(root.glob("*.safetensors"))
    if not files:
        raise _bad(root, "no *.safetensors files in the model directory")
    tensors = tuple(t for f in files for t in read_safetensors_header(f))
    spec = spec_from_config(cfg, name=root.name, source=str(root))
    from tokbench.modelspec.apart import split_bytes

    text, apart = split_bytes([(t.name, t.nbytes) for t in tensors], spec.n_layers)
    spec = replace(spec, weights_bytes=text, file_type=quant.preset if quant else None, apart=apart)
    return MLXModel(spec, quant, tensors)


def spec_from_mlx_dir(path: str | Path) -> ModelSpec:
    """ModelSpec of an MLX directory; ``file_type`` is the MLX preset (mlx-4bit ...), ``weights_bytes`` exact."""
    return read_mlx_dir(path).spec
