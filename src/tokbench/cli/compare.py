"""`tokbench compare RUN_A RUN_B`: is B faster or slower than A, with a confidence interval."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``compare`` command."""
    from tokbench.cli.db import add_db_arg

    p = sub.add_parser(
        "compare", help="compare two stored runs (Welch 95%% interval per metric)",
        description="Per sweep point and metric: B - A with a Welch 95%% confidence interval and a verdict "
                    "(faster / slower / no significant difference).",
    )
    p.add_argument("run_a", metavar="RUN_A", help="baseline run id (prefix, name or 'last')")
    p.add_argument("run_b", metavar="RUN_B", help="run compared against the baseline")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--fail-on-regression", type=float, metavar="PCT", default=None,
                   help="exit 1 when B is significantly slower than A by more than PCT percent on any metric")
    add_db_arg(p)
    p.set_defaults(func=run)


def _fmt(x: float | None, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _print_table(a: str, b: str, rows: list[dict]) -> None:
    print(f"A = {a}   B = {b}   (difference B - A, 95% Welch interval)")
    head = f"{'point':<16}{'metric':<30}{'A':>10}{'B':>10}{'diff %':>9}  {'95% CI %':<20}verdict"
    print(head)
    print("-" * len(head))
    for r in rows:
        point = f"d={r['context_depth']} c={r['concurrency']}"
        ci = f"[{_fmt(r['ci_low_pct'], 1)}, {_fmt(r['ci_high_pct'], 1)}]" if r["ci_low_pct"] is not None else "-"
        print(f"{point:<16}{r['metric'] + ' (' + r['unit'] + ')':<30}{_fmt(r['mean_a']):>10}{_fmt(r['mean_b']):>10}"
              f"{_fmt(r['diff_pct'], 1):>9}  {ci:<20}{r['verdict']}")


def run(args: argparse.Namespace) -> int:
    """Compare; exit 1 on a regression beyond --fail-on-regression."""
    from tokbench.cli.output import print_json
    from tokbench.errors import UserError
    from tokbench.report.compare import compare_records, regressions
    from tokbench.store import open_store, resolve_db_path

    if args.fail_on_regression is not None and not args.fail_on_regression >= 0:
        raise UserError(f"--fail-on-regression must be a percentage >= 0, got {args.fail_on_regression}")
    path = resolve_db_path(args.db)
    if not path.exists():  # reading must not create a database as a side effect
        raise UserError(f"no database at {path}, so no run '{args.run_a}'")
    with open_store(path) as store:
        a, b = store.resolve_run_id(args.run_a), store.resolve_run_id(args.run_b)
        rows = compare_records(store.records(a), store.records(b))
    bad = regressions(rows, args.fail_on_regression) if args.fail_on_regression is not None else []
    if args.json:
        print_json({"run_a": a, "run_b": b, "method": "welch_t_95", "rows": rows,
                    "fail_on_regression_pct": args.fail_on_regression, "regressions": bad})
    else:
        _print_table(a, b, rows)
        for r in bad:
            print(f"REGRESSION: {r['metric']} at d={r['context_depth']} c={r['concurrency']}: "
                  f"{r['diff_pct']:+.1f}% (limit {args.fail_on_regression:g}%)")
    return 1 if bad else 0
