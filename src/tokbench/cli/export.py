"""``tokbench export RUN_ID``: a run's raw rows and summaries as JSON or CSV."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``export`` command."""
    from tokbench.cli.db import add_db_arg

    p = subparsers.add_parser("export", help="export a run as JSON or CSV",
                              description="Export a stored run: raw request rows and per-point summaries.")
    p.add_argument("run", metavar="RUN_ID", help="run id, unique prefix, name, or 'last'")
    p.add_argument("--format", choices=("json", "csv"), default=None, help="output format (default json)")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument("--table", choices=("records", "summary"), default=None,
                   help="CSV only: raw rows or per-point summaries (default: records when the run has any)")
    p.add_argument("--out", metavar="PATH", help="write to PATH instead of stdout (a new file)")
    p.add_argument("--force", action="store_true", help="let --out replace an existing file")
    add_db_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``tokbench export``."""
    import json
    import sys

    from tokbench.cli.output import _clean
    from tokbench.errors import UserError
    from tokbench.store import open_store, resolve_db_path
    from tokbench.store.export import export_json, records_csv, summary_csv

    if args.json and args.format == "csv":
        raise UserError("--json and --format csv disagree; give one")
    args.format = "json" if args.json else (args.format or "json")
    if args.out is not None:
        from tokbench.safewrite import check_file_dest

        check_file_dest(args.out, args.force, parent_must_exist=True)  # before any work: a refused write costs nothing
    path = resolve_db_path(args.db)
    if not path.exists():
        raise UserError(f"no database at {path}")
    if args.table and args.format != "csv":
        raise UserError("--table applies to --format csv only")
    with open_store(path) as store:
        run_id = store.resolve_run_id(args.run)
        if args.format == "json":
            text = json.dumps(_clean(export_json(store, run_id)), indent=2, default=str) + "\n"
        else:
            table = args.table or ("records" if store.records(run_id, include_warmup=True) else "summary")
            text = records_csv(store, run_id) if table == "records" else summary_csv(store, run_id)
    if args.out is not None:
        from tokbench.safewrite import write_text

        out, replaced = write_text(args.out, text, args.force)
        print(f"exported {run_id} to {out}{' (replaced)' if replaced else ''} ({len(text.encode()):,} bytes)",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
