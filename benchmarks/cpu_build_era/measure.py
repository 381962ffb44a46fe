"""One CPU, three llama.cpp builds (issue 15): how much of a CPU's decode speed is the build's kernels.

The CPU rows the planner is fitted on come from builds of 2024 (the Apple M2 Max's and the Ryzen 9 7950X's
published rows), of late 2024 - 2025, and of 2026 (this project's own hosts), and no machine had rows of
two builds: the fit could not tell a build's kernels from a machine's cores. This measures the same
storage types on the same CPU with three llama.cpp builds (this project's 2-vCPU VM; the lent GPU
machine's 16-vCPU Xeon with two of them, through device_run.sh), interleaved per model so that the
machine's drift falls on every build alike:

  build (llama-cpp-python sdist)   llama.cpp          era in the fit
  0.2.84                           4730faca, 2024-07  2024 (the M2 Max / 7950X rows ran 081fe431, b3441)
  0.3.6                            f7cd1330, 2025-01  2025
  0.3.36                           this project's     current

Models: ``tokbench synth`` at real size (random weights; speed does not depend on their values), quantized
by the current llama.cpp quantizer (the storage formats are the same in all three builds).

Usage (repository root):
  benchmarks/cpu_build_era/build.sh /work/era 0.2.84 0.3.6 0.3.36
  python benchmarks/cpu_build_era/measure.py measure --bins /work/era --work /tmp/era-models
  python benchmarks/cpu_build_era/measure.py report
Raw llama-bench JSON lines go to data/cpu_host/build_era.jsonl (the Xeon's: data/cpu_device/build_era.jsonl)
as each run ends; ``report`` writes data/cpu_host/build_era.csv (the probed-host columns, the build and its
era) and build_era.md. The runs committed: see data/cpu_host/README.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / "data" / "cpu_host" / "build_era.jsonl"
RAWS = (RAW, ROOT / "data" / "cpu_device" / "build_era.jsonl")  # this VM's runs, the lent Xeon's
CSV = ROOT / "data" / "cpu_host" / "build_era.csv"
MD = ROOT / "data" / "cpu_host" / "build_era.md"
BUILDS = ("0.2.84", "0.3.6", "0.3.36")
# What each build is (sdists carry no git history, so llama-bench prints no build number for them): the
# llama.cpp commit named in llama-cpp-python's CHANGELOG, and the era the fit files it under ("" = current).
BUILD_INFO = {"0.2.84": ("4730faca, 2024-07", "2024"), "0.3.6": ("f7cd1330, 2025-01", "2025"),
              "0.3.36": ("llama-cpp-python 0.3.36's", "")}
MODEL = "llama-3.2-3b"
QUANTS = ("Q4_0", "Q8_0", "Q4_K_M", "F16", "Q6_K", "IQ4_XS", "Q4_1", "Q5_0", "Q5_K_M", "Q3_K_M", "Q2_K", "IQ4_NL",
          "IQ3_S", "BF16")
THREADS = (1, 2)
GEN = 32
# Where each host's probe figures are kept (the rows carry them into the fit like the host's other rows).
HOST_ROWS = {"cpu-dev-vm-epyc-2c": ROOT / "data" / "cpu_host" / "measurements.csv",
             "cpu-h200-vm-xeon-16c": ROOT / "data" / "cpu_device" / "measurements.csv"}


def measure(a: argparse.Namespace) -> None:
    """Synthesize each storage type, run llama-bench of every build on it (1 and 2 threads), append the results."""
    from tokbench.report.reference import model_spec
    from tokbench.synth import synthesize

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    raw = Path(a.raw)
    spec = model_spec(MODEL)
    deadline = time.time() + a.budget_s
    for quant in a.quants.split(",") if a.quants else QUANTS:
        if time.time() > deadline:
            print("budget spent: stopping before", quant, flush=True)
            break
        path = work / f"{MODEL}-{quant}.gguf"
        if not path.exists():
            synthesize(spec, quant, path, seed=0, vocab="real")
        for threads in (int(t) for t in a.threads.split(",")):
            for build in a.builds.split(","):
                cmd = [str(Path(a.bins) / build / "bin" / "llama-bench"), "-m", str(path), "-t", str(threads),
                       "-p", "0", "-n", str(a.gen), "-r", str(a.reps), "-o", "json"]
                t0 = time.time()
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
                try:
                    rows = json.loads(r.stdout or "[]")
                except json.JSONDecodeError:
                    rows = []
                rec = {"host": a.host, "model": MODEL, "quant": quant, "threads": threads, "build": build, "gen": a.gen,
                       "rows": rows,
                       "wall_s": round(time.time() - t0, 1), "date": dt.date.today().isoformat(),
                       "load": open("/proc/loadavg").read().split()[0],
                       "stderr_tail": "" if rows else r.stderr[-600:]}
                with raw.open("a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                print(quant, threads, build, [round(x.get("avg_ts", 0), 2) for x in rows], rec["stderr_tail"][-200:],
                      flush=True)
        if not a.keep:
            path.unlink(missing_ok=True)


def _host(hardware_id: str) -> dict:
    """A probed host's figures as its other rows carry them (HOST_ROWS)."""
    with HOST_ROWS[hardware_id].open(newline="") as fh:
        r = next(x for x in csv.DictReader(fh) if x["hardware_id"] == hardware_id)
    return {k: r[k] for k in ("hardware_id", "cpu", "cores", "bandwidth_gbs", "fp16_tflops", "clock_mhz", "generation",
                              "core_bandwidth_gbs", "llc_mib")}


def report(a: argparse.Namespace) -> None:
    """build_era.csv (rows for the fit) and build_era.md (each build's speed relative to the current one)."""
    recs = [json.loads(x) for f in RAWS if f.exists() for x in f.read_text().splitlines() if x.strip()]
    fields = list(_host("cpu-dev-vm-epyc-2c")) + [
        "threads", "model_id", "quant_id", "engine_id", "metric", "depth", "concurrency", "tokens_per_s", "sd", "n",
        "role", "date", "build", "era", "command"]
    out: list[dict] = []
    table: list[tuple[tuple[str, str, int], dict[str, float]]] = []  # (host, quant, threads), {build: tok/s}
    pending: dict[tuple[str, str, int], dict[str, float]] = {}
    for rec in recs:
        if not rec["rows"]:
            continue
        row = rec["rows"][0]
        host_id = rec.get("host", "cpu-dev-vm-epyc-2c")
        build, era = BUILD_INFO[rec["build"]]
        n = len(row.get("samples_ts") or [])
        out.append({**_host(host_id), "threads": rec["threads"], "model_id": rec["model"], "quant_id": rec["quant"],
                    "engine_id": "llama.cpp", "metric": "decode", "depth": rec.get("gen", GEN) // 2, "concurrency": 1,
                    "tokens_per_s": round(row["avg_ts"], 3), "sd": round(row.get("stddev_ts", 0.0), 3), "n": n,
                    "role": "fit", "date": rec["date"], "build": build, "era": era,
                    "command": f"llama-bench -t {rec['threads']} -p 0 -n {rec.get('gen', GEN)} -r {n} "
                               f"(llama-cpp-python {rec['build']} sources)"})
        # Each old build is compared with the current build's run that follows it (the builds ran interleaved
        # per file, old first): machines lent on other days ran up to a third slower, so runs of different
        # calls are never divided by each other.
        key = (host_id, rec["quant"], rec["threads"])
        pending.setdefault(key, {})[rec["build"]] = row["avg_ts"]
        if rec["build"] == BUILDS[-1]:
            table.append((key, pending.pop(key)))
    with CSV.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(out)
    lines = ["# One CPU, three llama.cpp builds (issue 15)", "",
             "`llama-bench -t T -p 0 -n N -r R` (N = 32 on the Xeon, 16 on the 2-vCPU VM) on `tokbench synth {MODEL} --vocab real` files (random weights, "
             "quantized by the current quantizer), the builds interleaved per file. Hosts: this project's 2-vCPU VM "
             "(AMD EPYC, AVX2) and the lent one-GPU machine's 16-vCPU Xeon (AVX-512) where measured. Written by "
             "`python benchmarks/cpu_build_era/measure.py report` from the raw llama-bench output beside it.", "",
             "| host | quant | threads | " + " | ".join(f"{b} tok/s" for b in BUILDS)
             + " | 2024 / current | 2025 / current |", "|---|---|---:|" + "---:|" * (len(BUILDS) + 2)]
    ratios: dict[tuple[str, str], list[float]] = {}
    for (host_id, quant, threads), by in sorted(table, key=lambda kb: (kb[0], sorted(kb[1]))):
        cur = by.get(BUILDS[-1])
        cells = [f"{by[b]:.2f}" if b in by else "-" for b in BUILDS]
        rel = []
        for era, b in (("2024", BUILDS[0]), ("2025", BUILDS[1])):
            if cur and b in by:
                ratios.setdefault((host_id, era), []).append(by[b] / cur)
                rel.append(f"{by[b] / cur:.2f}")
            else:
                rel.append("-")
        lines.append(f"| {host_id} | {quant} | {threads} | " + " | ".join(cells + rel) + " |")
    lines += ["", "Median ratio to the current build: " + "; ".join(
        f"{h} {era} build {statistics.median(v):.2f} ({len(v)} rows)" for (h, era), v in sorted(ratios.items()))]
    # The current build ran in every call: how much one lent machine differed from another on the same runs
    current: dict[tuple[str, str, int], list[float]] = {}
    for key, by in table:
        current.setdefault(key, []).append(by[BUILDS[-1]])
    drift: dict[str, list[float]] = {}
    for (host_id, _, _), v in current.items():
        if len(v) > 1:
            drift.setdefault(host_id, []).append(v[-1] / v[0])
    lines += [""] + [f"{h}: the current build's runs of a later call read {statistics.median(v):.2f}x those of the first "
              f"call on the same files and threads (median of {len(v)}; {min(v):.2f}-{max(v):.2f}), another machine "
              "of the same kind lent later: each old build is divided only by the current build's run of its own call."
              for h, v in sorted(drift.items())]
    MD.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--bins", required=True, help="folder with VERSION/bin/llama-bench (build.sh's DEST)")
    m.add_argument("--work", default="/tmp/era-models")
    m.add_argument("--quants", default="", help="comma-separated subset of the storage types")
    m.add_argument("--reps", type=int, default=3)
    m.add_argument("--gen", type=int, default=GEN, help="tokens generated per run (llama-bench -n)")
    m.add_argument("--keep", action="store_true", help="keep the model files")
    m.add_argument("--host", default="cpu-dev-vm-epyc-2c", choices=sorted(HOST_ROWS), help="hardware id of this host")
    m.add_argument("--threads", default=",".join(map(str, THREADS)))
    m.add_argument("--builds", default=",".join(BUILDS))
    m.add_argument("--raw", default=str(RAW), help="JSON lines file the results are appended to")
    m.add_argument("--budget-s", type=float, default=1e9, help="start no new storage type after this many seconds")
    sub.add_parser("report")
    a = ap.parse_args()
    measure(a) if a.cmd == "measure" else report(a)


if __name__ == "__main__":
    main()
