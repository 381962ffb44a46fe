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
    p.add_argument("--holdout", choices=("machine", "model", "arch"),
                   help="out-of-sample accuracy: refit the decode model without each machine (model, architecture "
                        "family) and predict its rows; MAPE and band coverage per group and per level "
                        "(fitted on this chip / same generation / extrapolated); by machine, the prefill rows too")
    p.add_argument("--group", metavar="KEY", help="with --holdout: only this group (a hardware id, model id or "
                                                  "architecture), one refit instead of one per group")
    p.add_argument("--run", action="append", metavar="ID", default=None, help="only these stored runs (repeatable)")
    add_db_arg(p)
    p.set_defaults(func=run)


def _print(result: dict) -> None:
    head = f"{'model':<20}{'quant':<11}{'hardware':<15}{'engine':<10}{'ctx':>7}{'c':>4} {'metric':<21}" \
           f"{'measured':>10}{'estimated':>10}{'error':>8}  source"
    print(head)
    print("-" * len(head))
    for r in result["rows"] + result.get("cluster_rows", []):
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
    from tokbench.report.validate_clusters import cluster_lines

    for line in split_lines(result) + cluster_lines(result):
        print(line)
    if s["skipped"]:
        print(f"\n{len(s['skipped'])} row(s) not matched (see --json for reasons)")


def _holdout(by: str, as_json: bool, only: str | None = None) -> int:
    """Leave-one-group-out predictions of every single-stream decode row (tokbench.calibrate.holdout); by
    machine, also of every prefill row."""
    from tokbench.calibrate import SMOOTH_P, decode_rows, prefill_rows
    from tokbench.calibrate import holdout as ho
    from tokbench.calibrate.rows import load_rows
    from tokbench.catalog.calibration import speed_params
    from tokbench.cli.output import print_json

    from tokbench.errors import unknown

    every = load_rows()[0]
    rows = decode_rows(every)
    pre_rows = prefill_rows(every) if by == "machine" else []
    if only is not None:
        keys = {ho.group_key(r, by).split(" ")[0] for r in rows + pre_rows}
        if only not in keys:
            raise unknown(f"{by} with measurements", only, keys)
    refits: dict = {}
    preds = ho.leave_one_out(rows, by, speed_params().get("p", SMOOTH_P), only=only, progress=_progress(as_json),
                             params_out=refits)
    bands = speed_params()["bands"]
    cpu_ids = {r.hardware_id for r in rows if r.hw.kind == "cpu"}
    summary = ho.summary(preds, bands, speed_params().get("bands_cpu"), cpu_ids)
    # Prefill rows, by machine: a prefill refit without the machine, its node cost from the decode refit.
    pre = ho.prefill_leave_one_out(pre_rows, speed_params(), refits, only=only) if pre_rows else []
    pre_cpu = {r.hardware_id for r in pre_rows if r.hw.kind == "cpu"}
    pre_bands = speed_params().get("bands_prefill")
    pre_summary = ho.summary(pre, pre_bands, speed_params().get("bands_prefill_cpu"), pre_cpu) if pre else None
    if as_json:
        out = {"holdout": by, "predictions": [dict(vars(p), error_pct=p.error_pct) for p in preds],
               "summary": summary, "bands": bands}
        if pre:
            out["prefill"] = {"predictions": [dict(vars(p), error_pct=p.error_pct) for p in pre],
                              "summary": pre_summary, "bands": pre_bands,
                              "bands_cpu": speed_params().get("bands_prefill_cpu")}
        print_json(out)
        return 0
    print(f"Leave-one-{by}-out: each {by}'s rows predicted by a fit without them "
          f"({len(preds)} single-stream decode rows)")
    print(f"{'held out':<42}{'model':<20}{'quant':<10}{'depth':>6}{'measured':>10}{'predicted':>10}{'error':>8}  level")
    for p in preds:
        print(f"{p.group[:41]:<42}{p.model_id[:19]:<20}{p.quant_id[:9]:<10}{p.depth:>6}{p.measured_tps:>10.1f}"
              f"{p.predicted_tps:>10.1f}{p.error_pct:>+7.1f}%  {p.level}")
    print("\nPer group:")
    for g, st in summary["by_group"].items():
        print(f"  {g[:50]:<52} n={st['n']:<4} MAPE {st['mape_pct']:5.1f}%  bias {st['bias_pct']:+6.1f}%  "
              f"inside band {st['inside_band_pct']:.0f}%")
    print("Per level (what the refit still knew of the machine; bands of accelerators):")
    for lv, st in summary["by_level"].items():
        print(f"  {lv:<14} n={st['n']:<4} MAPE {st['mape_pct']:5.1f}%  bias {st['bias_pct']:+6.1f}%  "
              f"inside band {st['inside_band_pct']:.0f}%  band x{bands[lv][0]:.2f}-x{bands[lv][1]:.2f}")
    for name, ps in (("accelerators", [p for p in preds if p.hardware_id not in cpu_ids]),
                     ("CPUs", [p for p in preds if p.hardware_id in cpu_ids])):
        if ps:
            st = ho.summary(ps)["all"]
            print(f"{name}: n={st['n']} MAPE {st['mape_pct']:.1f}%  bias {st['bias_pct']:+.1f}%")
    a = summary["all"]
    if a["n"]:  # a machine with prompt rows only (MLX on an M4 Max) has no decode row to hold out
        print(f"All: n={a['n']} MAPE {a['mape_pct']:.1f}%  bias {a['bias_pct']:+.1f}%  "
              f"inside band {a['inside_band_pct']:.0f}%")
    if pre_summary:
        a = pre_summary["all"]
        print(f"Prefill (prompt tok/s), each machine's rows predicted by a fit without them: n={a['n']} "
              f"MAPE {a['mape_pct']:.1f}%  bias {a['bias_pct']:+.1f}%"
              + (f"  inside band {a['inside_band_pct']:.0f}%" if "inside_band_pct" in a else ""))
    return 0


def _progress(quiet: bool):
    """A progress line on stderr per refit (a full leave-one-machine-out is ~80 refits, a few minutes)."""
    import sys

    def show(done: int, total: int, key: str) -> None:
        if not quiet or sys.stderr.isatty():
            print(f"\rrefit {done + 1}/{total} without {key[:50]:<50}", end="", file=sys.stderr, flush=True)
            if done + 1 == total:
                print(file=sys.stderr)
    return show


def run(args: argparse.Namespace) -> int:
    """Validate published rows and (when a database exists) stored runs; or hold groups out."""
    from tokbench.errors import UserError

    if args.group and not args.holdout:
        raise UserError("--group needs --holdout machine|model|arch")
    if args.holdout and args.run:  # the held-out rows are the fit's own data, not stored runs
        raise UserError("--holdout checks the speed fit's own rows; --run does not apply to it")
    if args.holdout:
        return _holdout(args.holdout, args.json, args.group)
    from tokbench.cli.output import print_json
    from tokbench.report.validate import validate
    from tokbench.store import open_store, resolve_db_path

    path = resolve_db_path(args.db)
    if args.run and not path.exists():  # reading must not create a database as a side effect
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
