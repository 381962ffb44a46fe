"""``tokbench import FILE``: results from llama-bench, ``vllm bench serve`` or GuideLLM as a run."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``import`` command."""
    from tokbench.cli.db import add_db_arg

    p = subparsers.add_parser("import", help="import llama-bench / vllm / GuideLLM results",
                              description="Import benchmark results written by other tools as a stored run.")
    p.add_argument("file", metavar="FILE", help="llama-bench JSON/JSONL, vllm bench serve JSON, GuideLLM JSON")
    p.add_argument("--format", choices=("llama-bench", "vllm", "guidellm"), default=None,
                   help="the tool that wrote FILE (default: detected)")
    p.add_argument("--name", help="a name for the run")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_db_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``tokbench import``."""
    from tokbench.cli.output import print_json
    from tokbench.store import open_store
    from tokbench.store.export import run_summaries
    from tokbench.store.importers import read_file, store_import

    imp = read_file(args.file, args.format)  # parse fully before touching the database
    with open_store(args.db) as store:
        run_id = store_import(store, imp, name=args.name)
        results = run_summaries(store, run_id)
    if args.json:
        print_json({"run_id": run_id, "format": imp.format, "points": len(imp.points),
                    "records": len(imp.records), "results": results})
    else:
        print(f"imported {args.file} ({imp.format}) as run {run_id}: {len(imp.points)} points, "
              f"{len(imp.records)} raw rows")
    return 0
