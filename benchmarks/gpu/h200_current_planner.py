#!/usr/bin/env python
"""The planner of this checkout on the H200's single-GPU decode and prefill rows, through `tokbench plan`.

The H200 is in no fit (issue 15), so this is still out-of-sample, but not pre-registered: the rows were
measured before this planner existed (the pre-registered figures are in results.md). Each row's estimate
is what a user gets from `tokbench plan MODEL --quant Q --hardware h200 --engine ENGINE --context DEPTH
--json` (llama-bench tg128 at depth d is estimated at d + 64, the mean depth of its 128 tokens; ppN at
depth d as a prompt of 2 (d + N/2) tokens, whose mean depth is the same; the plan's prefill band is
quoted).

Usage: python benchmarks/gpu/h200_current_planner.py (writes data/h200_campaign/current_planner.md)
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import h200_report  # noqa: E402

TOKBENCH = str(Path(sys.executable).with_name("tokbench"))


def plan(model: str, quant: str, engine: str, context: int) -> dict:
    """The first row of `tokbench plan ... --json`."""
    out = subprocess.run([TOKBENCH, "plan", model, "--quant", quant, "--hardware", "h200", "--engine", engine,
                          "--context", str(context), "--json"], capture_output=True, text=True, check=True).stdout
    return json.loads(out)["rows"][0]


def _table(metric: str) -> tuple[list[str], list[float], int]:
    """(markdown lines, errors in %, rows inside the band) of the single-GPU rows of ``metric``."""
    lines = ["| model | quant | engine | test | measured | planner [band] | error | in band |", "|---|---|---|---|---:|---:|---:|---|"]
    errs, inside = [], 0
    for m in h200_report.measured_rows():
        if m["run"] != "1 GPU" or m["metric"] != metric:
            continue
        d = re.search(r"d(\d+)", m["test"])
        depth = int(d.group(1)) if d else 0
        if metric == "prefill_tps":  # a prompt of 2 (d + 256) tokens has ppN's mean depth d + 256 (N = 512)
            n = int(re.search(r"pp(\d+)", m["test"]).group(1))
            context = 2 * (depth + n // 2)
        else:
            context = max(depth + (64 if m["engine"] == "llama.cpp" else 0), 1)
        r = plan(m["model"], m["quant"], m["engine"], context)
        if r.get(metric) is None:  # the plan row's field, with its _low and _high
            continue
        err = 100 * (r[metric] / m["measured"] - 1)
        ok = r[f"{metric}_low"] <= m["measured"] <= r[f"{metric}_high"]
        errs.append(err)
        inside += ok
        lines.append(f"| {m['model']} | {m['quant']} | {m['engine']} | {m['test']} | {m['measured']:.1f} | "
                     f"{r[metric]:.1f} [{r[f'{metric}_low']:.0f}-{r[f'{metric}_high']:.0f}] | {err:+.1f}% | "
                     f"{'yes' if ok else 'no'} |")
    return lines, errs, inside


def main() -> int:
    """Estimate every single-GPU decode and prefill row, print and write the comparison."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip() or "unknown"
    head = [f"# The planner at {commit} on the H200's single-GPU rows (not pre-registered)", "",
            (__doc__ or "").split("\n\n")[1].replace("\n", " "), ""]
    body: list[str] = []
    for metric, title in (("decode_tps", "Decode"), ("prefill_tps", "Prefill (llama-bench pp512)")):
        lines, errs, inside = _table(metric)
        summary = (f"{title}: MAPE {statistics.mean(map(abs, errs)):.1f}%, bias {statistics.mean(errs):+.1f}%, "
                   f"{inside} of {len(errs)} inside the planner's band.")
        head.append(summary)
        body += ["", f"## {title}", "", *lines]
    text = "\n".join(head + body) + "\n"
    (h200_report.DATA / "current_planner.md").write_text(text)
    print("\n".join(head))
    return 0


if __name__ == "__main__":
    sys.exit(main())
