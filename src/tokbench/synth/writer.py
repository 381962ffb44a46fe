"""GGUF synthesis: a ModelSpec + llama.cpp preset -> tensor types, metadata, streamed file."""

from __future__ import annotations

from pathlib import Path

from tokbench.errors import UserError
from tokbench.quant.presets import Preset, llamacpp_presets
from tokbench.modelspec.model import ModelSpec
from tokbench.synth import metadata
from tokbench.synth.blocks import LAYOUTS
from tokbench.synth.gguf import TensorEntry, write_gguf
from tokbench.synth.vocab import build_vocab, gguf_kv


def supported_gguf() -> str:
    """One line naming the architectures and presets GGUF synthesis supports."""
    from tokbench.modelspec.tensors import builders

    arches = [a for a in metadata.ARCHES if a in builders()]
    return f"GGUF synthesis supports architectures {', '.join(arches)} with llama.cpp presets {', '.join(llamacpp_presets())}"


def check_gguf(spec: ModelSpec, preset: Preset) -> None:
    """UserError (one line, with the supported combinations) when llama.cpp could not load the result."""
    from tokbench.modelspec.tensors import builders

    if preset.is_mlx:
        raise UserError(f"'{preset.name}' is an MLX mode; use --format mlx, or a llama.cpp preset for GGUF. {supported_gguf()}")
    if spec.arch not in metadata.ARCHES or (spec.tensor_list is None and spec.arch not in builders()):
        raise UserError(f"cannot synthesize architecture '{spec.arch}' as GGUF. {supported_gguf()}")


def tensor_entries(spec: ModelSpec, preset: Preset) -> list[TensorEntry]:
    """Every tensor with llama.cpp's type choice for ``preset`` and its exact byte size."""
    from tokbench.quant.formats import tensor_nbytes
    from tokbench.quant.llamacpp import tensor_types

    types = tensor_types(spec, preset.name)
    out = []
    for t in spec.tensors():
        ty = types[t.name]
        if ty not in LAYOUTS:
            raise UserError(f"{t.name}: ggml type {ty} cannot be synthesized (supported: {', '.join(LAYOUTS)})")
        out.append(TensorEntry(t.name, t.shape, ty, tensor_nbytes(ty, t.shape)))
    return out


def gguf_metadata(spec: ModelSpec, preset: Preset) -> list[tuple[str, str, object]]:
    """All KV pairs: general.*, the architecture's hyperparameters and the tokenizer."""
    vocab = build_vocab(spec.vocab)
    general = [
        ("general.architecture", "str", spec.arch),
        ("general.name", "str", f"{spec.name} (tokbench synthetic, random weights)"),
        ("general.file_type", "u32", int(preset.ftype or 0)),
        ("general.quantization_version", "u32", 2),
        ("general.alignment", "u32", 32),
    ]
    return general + metadata.arch_kv(spec, vocab.size) + gguf_kv(vocab)


def synth_gguf(spec: ModelSpec, preset: Preset, path: Path, seed: int = 0) -> Path:
    """Write ``spec`` as a GGUF file quantized with ``preset``; returns ``path``."""
    check_gguf(spec, preset)
    try:
        entries = tensor_entries(spec, preset)
    except ValueError as exc:  # a spec layout that cannot exist (e.g. bad widths after scaling)
        raise UserError(f"{spec.name}: {exc}") from None
    return write_gguf(path, gguf_metadata(spec, preset), entries, seed=seed)
