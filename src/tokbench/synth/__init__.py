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
    force: bool = False,
) -> Path:
    """Write ``spec`` with random weights quantized as ``quant`` to ``out``; returns the path written.

    ``fmt`` is ``gguf`` or ``mlx`` (default: ``mlx`` for MLX modes such as ``mlx-4bit``, else
    ``gguf``). ``vocab``: token count, ``"real"`` for the architecture's own size, or None for a
    small default. UserError for combinations the target engine cannot load, too little disk, or a
    destination it would not overwrite (:mod:`tokbench.synth.dest`: an existing file or non-empty
    directory without ``force``; with it, only synth's own kind of output). The result is written
    under a temporary name beside ``out`` and renamed into place only when complete.
    """
    from tokbench.quant.presets import get_preset
    from tokbench.synth.dest import resolve_dest

    if seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {seed}")
    preset = get_preset(quant)
    fmt = (fmt or ("mlx" if preset.is_mlx else "gguf")).lower()
    if fmt not in ("gguf", "mlx"):
        raise UserError(f"unknown format '{fmt}'; supported: gguf, mlx")
    target = prepare(spec, scale_layers, scale_width, vocab)
    dest = resolve_dest(out, fmt, target.name, preset.name, force)
    if fmt == "gguf":
        from tokbench.synth.writer import check_gguf, synth_gguf

        check_gguf(target, preset)  # refuse before creating anything
        return _write_then_rename(dest, force, lambda tmp: synth_gguf(target, preset, tmp, seed), is_dir=False)
    from tokbench.synth.mlx import synth_mlx

    return _write_then_rename(dest, force, lambda tmp: synth_mlx(target, preset, tmp, seed), is_dir=True)


def _write_then_rename(dest: Path, force: bool, write, is_dir: bool) -> Path:
    """Run ``write(tmp)`` on a fresh temporary sibling of ``dest``, then rename it to ``dest``.

    On any failure (Ctrl-C included) the temporary output and any parent directory created for it
    are removed, so a refused or interrupted synth leaves nothing behind.
    """
    from tokbench import safewrite

    made = safewrite.missing_dirs(dest)
    tmp = safewrite.temp_dir(dest) if is_dir else safewrite.temp_file(dest)
    try:
        write(tmp)
        if is_dir:
            safewrite.commit_dir(tmp, dest, force)
        else:
            safewrite.commit_file(tmp, dest, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True) if is_dir else tmp.unlink(missing_ok=True)
        safewrite.remove_empty(made)
        raise
    return dest


def default_model_path(spec: ModelSpec = DEFAULT_SPEC, quant: str = DEFAULT_QUANT) -> Path:
    """Where a cached synthetic model lives (``TOKBENCH_CACHE_DIR`` or the user cache dir); by default
    the default bench model's."""
    import hashlib

    from tokbench import __version__

    base = os.environ.get("TOKBENCH_CACHE_DIR")
    if not base:
        from platformdirs import user_cache_dir

        base = user_cache_dir("tokbench")
    key = hashlib.sha256(f"{spec!r}|{quant}|{SYNTH_VERSION}|{__version__}".encode()).hexdigest()[:12]
    return Path(base) / "models" / f"{spec.name}-{quant}-{key}.gguf"


def ensure_default_model(spec: ModelSpec = DEFAULT_SPEC, quant: str = DEFAULT_QUANT) -> Path:
    """A cached synthetic model (by default the default bench model), synthesized on first use and
    kept (keyed by spec, quant, version)."""
    path = default_model_path(spec, quant)
    if path.is_file():
        return path
    # Write under a per-process name first: two commands starting at once must not share a file.
    tmp_dir = path.parent / f".tmp-{os.getpid()}"
    try:
        tmp = synthesize(replace(spec), quant, tmp_dir / path.name, seed=0, vocab=spec.vocab)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return path


__all__ = ["synthesize", "ensure_default_model", "prepare", "DEFAULT_SPEC", "DEFAULT_QUANT"]
