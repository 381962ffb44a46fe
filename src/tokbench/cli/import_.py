"""``tokbench import FILE``: results from llama-bench, ``vllm bench serve`` or GuideLLM as a run."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``import`` command."""
    from tokbench.cli.db import add_db_arg

    p = subparsers.add_parser("import", help="import llama-bench / vllm / GuideLLM results",
                              description="Import benchmark results written by other tools as a stored run.")
    p.add_argument("file", metavar="FILE", help="llama-bench JSON/JSONL, vllm bench serve JSON, GuideLLM JSON")
    p.add_argument("--format", choices=("llama-bench", "vllm", "guidellm", "tokbench"), default=None,
                   help="the tool that wrote FILE (default: detected; tokbench = a 'tokbench export' JSON)")
    p.add_argument("--hardware", metavar="ID", help="catalog hardware the file was measured on (default: from the "
                                                     "file: llama-bench's gpu_info / cpu_info)")
    p.add_argument("--model", metavar="ID[:QUANT]", help="catalog model (and quant) measured (default: from the file: "
                                                          "llama-bench's exact model_n_params / model_size)")
    p.add_argument("--name", help="a name for the run (several runs: NAME/MODEL)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_db_arg(p)
    p.set_defaults(func=run)


def _names(name: str | None, imps) -> list[str | None]:
    if name is None or len(imps) == 1:
        return [name] * len(imps)
    return [f"{name}/{(imp.identity or {}).get('model_id') or i}" + (f":{imp.identity.get('quant')}"
            if (imp.identity or {}).get("quant") else "") for i, imp in enumerate(imps, 1)]


def run(args: argparse.Namespace) -> int:
    """Run ``tokbench import``."""
    import sys

    from tokbench.cli.output import print_json
    from tokbench.report.runs import display
    from tokbench.store import open_store
    from tokbench.store.export import run_summaries
    from tokbench.store.importers import read_file, store_import

    imps = read_file(args.file, args.format, args.hardware, args.model)  # parse fully before touching the database
    runs = []
    with open_store(args.db) as store:
        for imp, name in zip(imps, _names(args.name, imps)):
            run_id = store_import(store, imp, name=name)
            runs.append({"run_id": run_id, "identity": imp.identity, "points": len(imp.points),
                         "records": len(imp.records), "not_identified": imp.notes,
                         "results": run_summaries(store, run_id)})
    notes = [n for imp in imps for n in imp.notes]
    if args.json:
        print_json({"format": imps[0].format, "file": args.file, "runs": runs,
                    # one run: its fields at the top too (what 'import --json' printed before files held several)
                    **({k: runs[0][k] for k in ("run_id", "points", "records", "results")} if len(runs) == 1 else {})})
        return 0
    points = sum(r["points"] for r in runs)
    print(f"imported {args.file} ({imps[0].format}): {len(runs)} run(s), {points} points, "
          f"{sum(r['records'] for r in runs)} raw rows")
    for r in runs:
        d = display(r["identity"] or {})
        print(f"  {r['run_id']}  {d['model']:<24} {d['quant']:<10} {d['hardware']:<10} {d['engine']:<12} "
              f"{r['points']} points")
    if notes:
        print(f"not identified ({len(notes)}): " + "; ".join(dict.fromkeys(notes)), file=sys.stderr)
    return 0
