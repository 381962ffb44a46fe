#!/usr/bin/env python
"""Cold start of `tokbench plan`: wall and CPU time of fresh processes (issues 2 and 15: <= 0.5 s).

Runs the seed's command (`tokbench plan qwen3.5-397b-a17b --hardware m3-ultra-80c:256,m3-ultra-80c:512
--context 128k`, full tables) and its --json variant, and the catalog rankings `plan --hardware
m3-ultra-80c:256 --min-tps 60|50 --context 128k`, each in a new Python process. Bytecode is written
once by a warm-up run into a temporary PYTHONPYCACHEPREFIX and read by the timed runs, as an
installed package's is (with PYTHONDONTWRITEBYTECODE set and no bytecode, every run would also
compile each module: about 0.15 s more on the 2-core VM). The machine, its load average before and
after, and the tree measured are written to benchmarks/results/plan_cold_start.json.

Usage: python benchmarks/plan_cold_start.py [--runs 7] [--src DIR] [--out FILE]
(--src: measure another tree's src/, e.g. an exported older commit, instead of the installed one)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEED = ["plan", "qwen3.5-397b-a17b", "--hardware", "m3-ultra-80c:256,m3-ultra-80c:512", "--context", "128k"]
RANK = ["plan", "--hardware", "m3-ultra-80c:256", "--context", "128k"]
CASES = {"seed tables": SEED, "seed --json": SEED + ["--json"],
         "recommend --min-tps 60": RANK + ["--min-tps", "60"], "recommend --min-tps 50": RANK + ["--min-tps", "50"]}


def _machine() -> str:
    from tokbench.env import probe_host

    cpu = probe_host(measure=False).get("cpu") or platform.machine()
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def time_case(argv: list[str], runs: int, env: dict) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds) of ``runs`` fresh `python -m tokbench.cli.main ...` processes."""
    cmd = [sys.executable, "-m", "tokbench.cli.main", *argv]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)  # writes the bytecode
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        wall.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def _tree(src: str | None) -> str:
    """The tree measured: git commit (and whether modified) of the installed tokbench, or --src."""
    if src:
        return f"src/ of {src}"
    root = Path(__file__).resolve().parent.parent
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "src"], capture_output=True, text=True)
    return f"commit {head.stdout.strip()}" + (" + uncommitted changes in src/" if dirty.stdout.strip() else "")


def main() -> int:
    """Measure and write the result file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--src", help="a tree's src/ directory to measure instead of the installed tokbench")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "plan_cold_start.json"))
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if args.src:
        env["PYTHONPATH"] = str(Path(args.src).resolve())
    load_before = os.getloadavg()
    result = {"benchmark": "plan_cold_start", "machine": _machine(), "tree": _tree(args.src), "runs": args.runs,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "limit_s": 0.5,
              "bytecode": "written by a warm-up run, read by the timed runs",
              "cpu_s": "user + sys of the process: what other work on the machine does not inflate", "cases": {}}
    with tempfile.TemporaryDirectory() as cache:
        env["PYTHONPYCACHEPREFIX"] = cache
        for name, argv in CASES.items():
            wall, cpu = time_case(argv, args.runs, env)
            result["cases"][name] = {"argv": argv, "median_s": round(statistics.median(wall), 3),
                                     "min_s": round(min(wall), 3), "max_s": round(max(wall), 3),
                                     "cpu_median_s": round(statistics.median(cpu), 3)}
            print(f"{name:26} wall median {statistics.median(wall):.3f} s (min {min(wall):.3f}, max {max(wall):.3f}); "
                  f"CPU median {statistics.median(cpu):.3f} s")
    result["load_average_1_5_15"] = {"before": [round(x, 2) for x in load_before],
                                     "after": [round(x, 2) for x in os.getloadavg()]}
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    out = Path(args.out)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
