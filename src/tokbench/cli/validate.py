"""`tokbench validate`: the planner's estimates against every measured or published row it can match."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``validate`` command."""
    from tokbench.cli.db import add_db_arg

    p = sub.add_parser(
        "validate", help="check the planner against measured and published tok/s (errors and MAPE)",
        description="Estimates of tokbench.plan next to every published row and stored run it can match "
                    "(model, quant, hardware, engine, context); errors and MAPE per engine and hardware family.",
    )
    p.add_argument("--json", action="store_true", help="print JSON {rows, summary}")
    p.add_argument("--run", action="append", metavar="ID", default=None, help="only these stored runs (repeatable)")
    add_db_arg(p)
    p.set_defaults(func=run)


def _print(result: dict) -> None:
    head = f"{'model':<20}{'quant':<11}{'hardware':<15}{'engine':<10}{'ctx':>7}{'c':>4} {'metric':<21}" \
           f"{'measured':>10}{'estimated':>10}{'error':>8}  source"
    print(head)
    print("-" * len(head))
    for r in result["rows"]:
        print(f"{r['model'][:19]:<20}{r['quant'][:10]:<11}{r['hardware'][:14]:<15}{r['engine'][:9]:<10}{r['context']:>7}"
              f"{r['concurrency']:>4} {r['metric']:<21}{r['measured_tps']:>10.1f}{r['estimated_tps']:>10.1f}"
              f"{r['error_pct']:>+7.1f}%  {r.get('label', '')}: {r['source'][:60]}")
    s = result["summary"]
    print("\nMAPE (mean absolute percentage error) and bias:")
    for group in ("by_engine", "by_hardware_family", "by_metric"):
        for name, g in s[group].items():
            print(f"  {group[3:]:<16}{name:<20} n={g['n']:<4} MAPE {g['mape_pct']:.1f}%  bias {g['bias_pct']:+.1f}%")
    a = s["all"]
    if a["n"]:
        print(f"  {'all':<36} n={a['n']:<4} MAPE {a['mape_pct']:.1f}%  bias {a['bias_pct']:+.1f}%")
    from tokbench.report.validate import split_lines

    for line in split_lines(result):
        print(line)
    if s["skipped"]:
        print(f"\n{len(s['skipped'])} row(s) not matched (see --json for reasons)")


def run(args: argparse.Namespace) -> int:
    """Validate published rows and (when a database exists) stored runs."""
    from tokbench.cli.output import print_json
    from tokbench.report.validate import validate
    from tokbench.store import open_store, resolve_db_path

    path = resolve_db_path(args.db)
    if args.run and not path.exists():  # reading must not create a database as a side effect
        from tokbench.errors import UserError

        raise UserError(f"no database at {path}, so no run '{args.run[0]}'")
    if path.exists():
        with open_store(path) as store:
            ids = [store.resolve_run_id(r) for r in args.run] if args.run else None
            result = validate(store, ids)
    else:
        result = validate(None)
    if args.json:
        print_json(result)
    else:
        _print(result)
    return 0
