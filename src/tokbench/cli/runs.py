"""``tokbench runs``: stored runs with their status and request counts."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``runs`` command."""
    from tokbench.cli.db import add_db_arg

    p = subparsers.add_parser("runs", help="list stored runs", description="List stored runs, newest first.")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="show at most N runs")
    p.add_argument("--suite", metavar="ID", help="only runs of this suite")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_db_arg(p)
    p.set_defaults(func=run)


def _status(r) -> str:
    # A run marked running whose process is gone was killed before it could say so.
    return "stale" if r.stale else r.status


def run(args: argparse.Namespace) -> int:
    """Run ``tokbench runs``."""
    from tokbench.cli.output import console, print_json
    from tokbench.errors import UserError
    from tokbench.store import open_store, resolve_db_path

    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    path = resolve_db_path(args.db)
    if not path.exists():  # listing must not create a database as a side effect
        runs = []
    else:
        with open_store(path) as store:
            runs = store.list_runs(limit=args.limit, suite_id=args.suite)
    idents = {r.id: _identity(r) for r in runs}
    if args.json:
        keys = ("id", "kind", "name", "suite_id", "status", "stale", "created_at", "finished_at",
                "requests", "ok", "errors", "incomplete", "error")
        print_json({"db": str(path), "runs": [{**{k: getattr(r, k) for k in keys}, **idents[r.id]} for r in runs]})
        return 0
    if not runs:
        print(f"no runs in {path}")
        return 0
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    named = any(r.name for r in runs)
    suites = any(r.suite_id for r in runs)
    cols = ["run"] + (["suite"] if suites else []) + (["name"] if named else [])
    cols += ["model", "engine", "quant", "hardware", "status", "ok/n"]
    for col in cols:
        table.add_column(col, justify="right" if col == "ok/n" else "left", no_wrap=col in ("run", "status"),
                         overflow="fold")
    for r in runs:
        i = idents[r.id]
        row = [r.id] + ([r.suite_id or ""] if suites else []) + ([r.name or ""] if named else [])
        bad = r.errors + r.incomplete
        row += [i["model"] or "?", i["engine"] or "?", i["quant"] or "-", i["hardware"] or "-", _status(r),
                f"{r.ok}/{r.requests}" + (f" ({bad} failed)" if bad else "")]
        table.add_row(*row)
    console().print(table)
    if any(r.stale for r in runs):
        print("stale: still marked running, but the process that ran it is gone (killed or crashed)")
    return 0


def _identity(r) -> dict:
    """Model, engine, quant and hardware of a run, as its stored identity says (report.runs)."""
    from tokbench.report.runs import run_identity

    i = run_identity(r)
    model = i.get("model_label") or i.get("model")
    if isinstance(model, str) and model.startswith("/"):  # a file path: its name (HF ids keep their org)
        model = model.rsplit("/", 1)[-1]
    engine = i.get("bench_engine") or i.get("engine")
    if i.get("server") and i.get("engine") and i.get("engine") != engine:
        engine = f"{engine} ({i['engine']})"
    hw = i.get("hardware_id") or ("host" if i.get("hardware_label") else None)
    return {"model": model, "engine": engine, "quant": i.get("quant"), "hardware": hw}
