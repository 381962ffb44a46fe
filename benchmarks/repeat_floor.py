#!/usr/bin/env python
"""How far apart the same measurement lands when it is taken again: a floor under any planner's error.

Groups the fit's single-stream decode rows that measure the same thing (machine, engine, model, storage type,
threads, llama.cpp build era, depth) on different runs or leases, and predicts each such row by the geometric
mean of its group's other rows: the best any planner could do without knowing which run or lease it was. Beside
it, the same rows' leave-one-machine-out error (data/accuracy/holdout.json, written by scripts/fit_speed.py).
A machine whose repeats spread by 20% cannot be predicted within 12% by a model that sees none of them.

Usage: python benchmarks/repeat_floor.py [--out benchmarks/results/repeat_floor.md]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIN_ROWS = 4  # machines with fewer repeated rows are summed into one line


def repeat_groups(rows) -> dict:
    """{identity: [rows]} of the groups with two or more rows."""
    groups: dict = defaultdict(list)
    for r in rows:
        groups[(r.hardware_id, r.engine_id, r.model_id, r.quant_id, r.hw.compute_units, r.era, r.depth)].append(r)
    return {k: v for k, v in groups.items() if len(v) > 1}


def floor_errors(groups: dict) -> list[tuple]:
    """(row, error in percent) of each repeated row against the geometric mean of its group's others."""
    out = []
    for rs in groups.values():
        for i, r in enumerate(rs):
            others = [math.log(o.tps) for j, o in enumerate(rs) if j != i]
            out.append((r, 100.0 * (math.exp(statistics.fmean(others)) / r.tps - 1.0)))
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the table and print it."""
    from tokbench.calibrate import decode_rows
    from tokbench.calibrate.rows import load_rows

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "repeat_floor.md"))
    args = ap.parse_args(argv)
    rows, _ = load_rows()
    floor = floor_errors(repeat_groups(decode_rows(list(rows))))
    held = {}
    for p in json.loads((ROOT / "data" / "accuracy" / "holdout.json").read_text())["predictions"]:
        if p["group"].startswith("machine "):
            held[(p["hardware_id"], p["model_id"], p["quant_id"], p["depth"], round(p["measured_tps"], 2))] = p["error_pct"]
    by_machine: dict = defaultdict(lambda: ([], []))
    for r, e in floor:
        lomo = held.get((r.hardware_id, r.model_id, r.quant_id, r.depth, round(r.tps, 2)))
        if lomo is not None:
            by_machine[r.hardware_id][0].append(abs(e))
            by_machine[r.hardware_id][1].append(abs(lomo))
    lines = ["# Repeated measurements: the floor under any planner's error", "",
             "Rows of the fit that measure the same thing (machine, engine, model, type, threads, build era, depth) on",
             "different runs or leases; each predicted by the geometric mean of its group's other rows (the best a",
             "planner can do without knowing the run), beside the same rows' leave-one-machine-out error.",
             "`python benchmarks/repeat_floor.py` (rows: tokbench.calibrate.rows; held-out errors:",
             "data/accuracy/holdout.json from `python scripts/fit_speed.py`).", "",
             "| machine | repeated rows | floor: mean abs error vs the others' mean | leave-one-machine-out on the same rows |",
             "|---|---:|---:|---:|"]
    def line(name: str, parts: list) -> str:
        f = [x for p in parts for x in p[0]]
        lo = [x for p in parts for x in p[1]]
        return f"| {name} | {len(f)} | {statistics.fmean(f):.1f}% | {statistics.fmean(lo):.1f}% |"

    few = []
    for hw, part in sorted(by_machine.items(), key=lambda kv: -len(kv[1][0])):
        if len(part[0]) >= MIN_ROWS:
            lines.append(line(hw, [part]))
        else:
            few.append(part)
    if few:
        lines.append(line(f"{len(few)} other machines (one repeated pair or so each)", few))
    if by_machine:
        cpu = [p for hw, p in by_machine.items() if hw.startswith("cpu-")]
        lines.append(line("CPUs", cpu))
        lines.append(line("accelerators", [p for hw, p in by_machine.items() if not hw.startswith("cpu-")]))
        lines.append(line("all", list(by_machine.values())))
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
