"""Synthetic models: any architecture and quantization, random weights, no download.

Decode speed depends on the shapes and types of the weights, not their values, so a file of the
right shapes and types with random payload measures the same speed as the real model.
:func:`synthesize` writes a GGUF file (llama.cpp) or an MLX model directory (mlx-lm);
:func:`ensure_default_model` caches the small model that ``tokbench bench`` uses by default.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from tokbench.errors import UserError
from tokbench.modelspec.model import ModelSpec

SYNTH_VERSION = 1  # bump when the bytes written for the same arguments change (invalidates caches)

# The model `tokbench bench` runs without arguments: 8 llama layers, hidden 768 (a multiple of 256,
# so Q4_K_M applies its real mixture), 2048-token vocabulary: 32 MB at Q4_K_M. Measured in
# llama-cpp-python 0.3.36 on the 2-core dev VM: prefill ~1700 tok/s at 1024 tokens, decode ~520
# tok/s at depth 1024 and ~900 tok/s at depth 16, so the default bench takes a few seconds.
DEFAULT_SPEC = ModelSpec(
    name="tokbench-default", arch="llama", n_layers=8, hidden=768, n_heads=12, n_kv_heads=4, head_dim=64,
    vocab=2048, intermediate=2048, context_length=4096, source="tokbench synth default",
)
DEFAULT_QUANT = "Q4_K_M"


def _resolve_vocab(spec: ModelSpec, vocab: int | str | None) -> int:
    from tokbench.synth.vocab import DEFAULT_VOCAB, MIN_VOCAB

    if vocab is None:
        return DEFAULT_VOCAB
    if isinstance(vocab, str):
        if vocab.strip().lower() == "real":
            return max(spec.vocab, MIN_VOCAB)
        try:
            vocab = int(vocab)
        except ValueError:
            raise UserError(f"--vocab must be a number of tokens or 'real', got '{vocab}'") from None
    if vocab < MIN_VOCAB:
        raise UserError(f"--vocab must be at least {MIN_VOCAB} tokens, got {vocab}")
    return int(vocab)


def prepare(spec: ModelSpec, scale_layers: int | None = None, scale_width: float | None = None,
            vocab: int | str | None = None) -> ModelSpec:
    """The spec that will be written: scaled as asked, with the synthetic vocabulary's size."""
    from tokbench.synth.scale import scaled

    return scaled(spec, scale_layers, scale_width, _resolve_vocab(spec, vocab))


def synthesize(
    spec: ModelSpec,
    quant: str,
    out: str | os.PathLike,
    seed: int = 0,
    scale_layers: int | None = None,
    scale_width: float | None = None,
    vocab: int | str | None = None,
    fmt: str | None = None,
) -> Path:
    """Write ``spec`` with random weights quantized as ``quant`` to ``out``; returns the path.

    ``fmt`` is ``gguf`` or ``mlx`` (default: ``mlx`` for MLX modes such as ``mlx-4bit``, else
    ``gguf``). ``vocab``: token count, ``"real"`` for the architecture's own size, or None for a
    small default. UserError for combinations the target engine cannot load or too little disk.
    """
    from tokbench.quant.presets import get_preset

    if seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {seed}")
    preset = get_preset(quant)
    fmt = (fmt or ("mlx" if preset.is_mlx else "gguf")).lower()
    target = prepare(spec, scale_layers, scale_width, vocab)
    if fmt == "gguf":
        from tokbench.synth.writer import synth_gguf

        return synth_gguf(target, preset, Path(out), seed)
    if fmt == "mlx":
        from tokbench.synth.mlx import synth_mlx

        return synth_mlx(target, preset, Path(out), seed)
    raise UserError(f"unknown format '{fmt}'; supported: gguf, mlx")


def default_model_path() -> Path:
    """Where the cached default model lives (``TOKBENCH_CACHE_DIR`` or the user cache dir)."""
    import hashlib

    from tokbench import __version__

    base = os.environ.get("TOKBENCH_CACHE_DIR")
    if not base:
        from platformdirs import user_cache_dir

        base = user_cache_dir("tokbench")
    key = hashlib.sha256(f"{DEFAULT_SPEC!r}|{DEFAULT_QUANT}|{SYNTH_VERSION}|{__version__}".encode()).hexdigest()[:12]
    return Path(base) / "models" / f"tokbench-default-{DEFAULT_QUANT}-{key}.gguf"


def ensure_default_model() -> Path:
    """The default bench model, synthesized on first use and cached (keyed by spec, quant, version)."""
    path = default_model_path()
    if path.is_file():
        return path
    # Write under a per-process name first: two commands starting at once must not share a file.
    tmp_dir = path.parent / f".tmp-{os.getpid()}"
    try:
        tmp = synthesize(replace(DEFAULT_SPEC), DEFAULT_QUANT, tmp_dir / path.name, seed=0,
                         vocab=DEFAULT_SPEC.vocab)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return path


__all__ = ["synthesize", "ensure_default_model", "prepare", "DEFAULT_SPEC", "DEFAULT_QUANT"]
