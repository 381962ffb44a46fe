"""``tokbench models``: the model catalog, filtered by family, architecture, size and active parameters.

Only argparse at import time; ``tokbench plan --list`` is the same listing (see :func:`add_filter_args`).
"""

from __future__ import annotations

import argparse

_FILTERS = ("family", "arch", "min_params", "max_params", "min_active", "max_active")


def add_filter_args(p) -> None:
    """The catalog filters shared by ``models`` and ``plan --list``."""
    p.add_argument("--family", default=None, help="model family: qwen, llama, gemma, glm, deepseek, kimi, minimax, nemotron, gpt-oss")
    p.add_argument("--arch", default=None, help="GGUF architecture, e.g. qwen35moe, deepseek2, gemma4")
    p.add_argument("--min-params", default=None, metavar="N", help="total parameters at least N (30B, 1.5T, 500M)")
    p.add_argument("--max-params", default=None, metavar="N", help="total parameters at most N")
    p.add_argument("--min-active", default=None, metavar="N", help="parameters a token touches at least N")
    p.add_argument("--max-active", default=None, metavar="N", help="parameters a token touches at most N (e.g. 5B)")


def register(sub) -> None:
    """Add the ``models`` command."""
    p = sub.add_parser("models", help="catalog models: family, architecture, total and active parameters",
                       description="List the model catalog (every config with its source). Counts are exact sums "
                                   "over the GGUF tensor layout; active = what one token reads (no embedding).")
    add_filter_args(p)
    p.add_argument("--json", action="store_true", help='print {"models": [...]}')
    p.set_defaults(func=run)


def model_filter(args: argparse.Namespace):
    """The :class:`tokbench.catalog.models.ModelFilter` the filter flags describe."""
    from tokbench.catalog.models import ModelFilter, parse_params

    sizes = {k: parse_params(getattr(args, k), k.replace("_", "-")) if getattr(args, k) is not None else None
             for k in ("min_params", "max_params", "min_active", "max_active")}
    return ModelFilter(family=args.family, arch=args.arch, **sizes)


def filters_given(args: argparse.Namespace) -> bool:
    """True when any catalog filter flag was given."""
    return any(getattr(args, k, None) is not None for k in _FILTERS)


def _kinds(kinds: dict) -> str:
    if list(kinds) == ["full"]:
        return "full"
    return " + ".join(f"{n} {k}" for k, n in kinds.items())


def run(args: argparse.Namespace) -> int:
    """Print the (filtered) catalog."""
    from tokbench.catalog.models import list_models

    rows = list_models(model_filter(args))
    if args.json:
        from tokbench.cli.output import print_json

        print_json({"models": [r.to_dict() for r in rows]})
        return 0
    import sys

    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Model catalog ({len(rows)} models; tokbench plan ID, or any Hub repo id)")
    for col in ("ID", "Family", "Arch", "Params", "Active", "Layers", "Experts", "Context", "Layer kinds"):
        t.add_column(col, justify="left" if col in ("ID", "Family", "Arch", "Layer kinds") else "right")
    for r in rows:
        experts = f"{r.n_experts_used}/{r.n_experts}" if r.n_experts else ""
        t.add_row(r.id, r.family, r.arch, f"{r.total_params / 1e9:,.1f}B", f"{r.active_params / 1e9:,.1f}B",
                  str(r.n_layers), experts, f"{r.context_length:,}" if r.context_length else "", _kinds(r.layer_kinds))
    # Wide when piped, so rows don't wrap at 80 columns (as plan's tables).
    Console(highlight=False, width=None if sys.stdout.isatty() else 200).print(t)
    return 0
