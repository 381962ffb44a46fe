#!/usr/bin/env python
"""Cold start of `tokbench plan`: median wall time of several fresh processes (issue 2: < 0.5 s).

Runs the seed's command (`tokbench plan qwen3.5-397b-a17b --hardware m3-ultra-80c:256,m3-ultra-80c:512
--context 128k`, full tables) and its --json variant, each in a new Python process, and writes
benchmarks/results/plan_cold_start.json with the machine named.

Usage: python benchmarks/plan_cold_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

SEED = ["plan", "qwen3.5-397b-a17b", "--hardware", "m3-ultra-80c:256,m3-ultra-80c:512", "--context", "128k"]
CASES = {"seed tables": SEED, "seed --json": SEED + ["--json"], "recommend --min-tps 50":
         ["plan", "--hardware", "m3-ultra-80c:256", "--min-tps", "50", "--context", "128k"]}


def _machine() -> str:
    from tokbench.env import probe_host

    cpu = probe_host(measure=False).get("cpu") or platform.machine()
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def time_case(argv: list[str], runs: int) -> list[float]:
    """Wall seconds of ``runs`` fresh `python -m tokbench.cli.main ...` processes."""
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tokbench.cli.main", *argv], check=True, stdout=subprocess.DEVNULL)
        out.append(time.perf_counter() - t)
    return out


def main() -> int:
    """Measure and write the result file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    result = {"benchmark": "plan_cold_start", "machine": _machine(), "runs": args.runs,
              "date": time.strftime("%Y-%m-%d"), "limit_s": 0.5, "cases": {}}
    for name, argv in CASES.items():
        times = time_case(argv, args.runs)
        result["cases"][name] = {"argv": argv, "median_s": round(statistics.median(times), 3),
                                 "min_s": round(min(times), 3), "max_s": round(max(times), 3)}
        print(f"{name:28} median {statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f})")
    out = Path(__file__).resolve().parent / "results" / "plan_cold_start.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
