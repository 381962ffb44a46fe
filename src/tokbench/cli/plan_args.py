"""What ``tokbench plan`` was asked, checked once before anything is estimated.

Refused with one line each: a combination no engine runs (engine x hardware kind x weight format,
from the one engine table :mod:`tokbench.catalog.engines`), a context past the model's trained
maximum (unless ``--extrapolate``, which plans it and says so), a depth past the context. Filled in
from what the user gave: the engine from the weights (MLX presets and MLX directories: ``mlx``), the
quant from the file (a GGUF's own types, an MLX directory's mode), the context from the model's
maximum when that is under the 4K default. Only argparse-free, light imports at module level.
"""

from __future__ import annotations

from tokbench.errors import UserError

DEFAULT_CONTEXT = 4096
# Unquantized llama.cpp presets hold the same bytes as the Hugging Face checkpoint, so engines that
# load safetensors (vLLM, SGLang) can run them; every other llama.cpp preset exists only as GGUF.
_FLOAT_PRESETS = ("F32", "F16", "BF16")


def weight_formats(quant: str) -> tuple[str, ...]:
    """The weight formats (as :class:`tokbench.catalog.engines.Engine` ``formats`` names them) a quant exists in."""
    from tokbench.quant.presets import NATIVE, PRESETS, parse_quant

    q = parse_quant(quant)
    if q == NATIVE:
        return ("gguf",)
    if PRESETS[q].is_mlx:
        return ("mlx",)
    return ("gguf", "hf") if q in _FLOAT_PRESETS else ("gguf",)


def file_quant(spec) -> str | None:
    """The quant a model file carries: ``native`` for a GGUF, the MLX mode of an MLX directory, else None."""
    if spec.tensor_list is not None and spec.file_type is not None:
        return "native"
    if spec.file_type and spec.file_type.startswith("mlx-"):
        from tokbench.quant.presets import parse_quant

        return parse_quant(spec.file_type)
    return None


def resolve_engine(name: str | None, quants: list[str] | None):
    """The :class:`Engine` named, or the one the weights need: ``mlx`` for MLX presets, else llama.cpp."""
    from tokbench.catalog.engines import get_engine
    from tokbench.plan.memory import parse_engine

    if name is not None:
        return get_engine(parse_engine(name))
    kinds = {"mlx" if "mlx" in weight_formats(q) else "other" for q in quants or ()}
    if len(kinds) > 1:
        mlx = [q for q in quants or () if "mlx" in weight_formats(q)]
        raise UserError(f"--quant mixes MLX presets ({', '.join(mlx)}) with llama.cpp ones: each runs on a "
                        f"different engine; plan them separately, or name --engine")
    return get_engine("mlx" if kinds == {"mlx"} else "llama.cpp")


def default_quants(engine, ranking: bool = False) -> list[str]:
    """The default presets to plan for ``engine``: those of its backend's list it loads (else BF16)."""
    from tokbench.plan.recommend import DEFAULT_QUANTS, RECOMMEND_QUANTS

    table = RECOMMEND_QUANTS if ranking else DEFAULT_QUANTS
    pool = table["mlx" if engine.backend == "mlx" else "llama.cpp"]
    loads = [q for q in pool if set(weight_formats(q)) & set(engine.formats)]
    return loads or ["BF16"]


def check_combination(engine, hws, quants: list[str], companions=()) -> None:
    """UserError (one line) when ``engine`` does not run on one of ``hws`` or load one of the quants."""
    from tokbench.catalog.engines import check_runs

    for hw in hws:
        check_runs(engine, hw.kind, None)
    for q in [*quants, *(c[1] for c in companions)]:
        formats = weight_formats(q)
        if not set(formats) & set(engine.formats):
            try:
                check_runs(engine, None, formats[0])
            except UserError as exc:
                raise UserError(f"{'the GGUF file' if q == 'native' else q}: {exc}") from None


def resolve_context(context_text: str | None, depth_text: str | None, spec, extrapolate: bool):
    """(context, depth or None, notes) for ``spec``; UserError for a depth past the context, or a context
    past the model's maximum without ``extrapolate``."""
    from tokbench.plan.context import format_context as fmt
    from tokbench.plan.context import parse_context

    limit = spec.context_length if spec is not None else 0
    depth = parse_context(depth_text) if depth_text else None
    if context_text is not None:
        context = parse_context(context_text)
    else:  # a depth alone sets the context; otherwise 4K, or the model's maximum when smaller
        context = depth or (min(DEFAULT_CONTEXT, limit) if limit else DEFAULT_CONTEXT)
    if depth is not None and depth > context:
        raise UserError(f"--depth {fmt(depth)} is past --context {fmt(context)}: a sequence {fmt(depth)} tokens deep "
                        f"needs a context of at least {fmt(depth)}")
    notes = []
    if limit and context > limit:
        where = f"{spec.name}'s maximum of {fmt(limit)} tokens"
        if not extrapolate:
            raise UserError(f"--context {fmt(context)} is past {where}; pass --extrapolate to plan it anyway "
                            f"(RoPE scaling; quality not assessed)")
        notes.append(f"context {fmt(context)} is past {where}: extrapolated (RoPE scaling); memory and speed as "
                     f"computed, quality not assessed")
    return context, depth, notes
