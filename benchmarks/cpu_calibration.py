#!/usr/bin/env python
"""Measure this CPU host with tokbench's in-process llama.cpp engine; write data/cpu_host/.

The planner's "cpu" calibration family had no data (a stated default). This script synthesizes four
small llama models of different widths, depths and quants (random weights: decode speed
depends on shapes and types, not values), runs ``tokbench bench --engine llama.cpp`` on each at
context depths 64, 256 and 1024 (single stream) plus one concurrency 4 and 8 point on the default
bench model, and records the host's measured read bandwidth and float32 matmul rate
(tokbench.env.probe_host), which the fit uses as the host's bandwidth and compute peak.

Output: data/cpu_host/measurements.csv (one row per measurement, with the host's bandwidth_gbs,
fp16_tflops, one core's read bandwidth and last-level cache on every row, hardware_id HARDWARE_ID) and
data/cpu_host/host.json (the probe).
scripts/fit_calibration.py fits the "cpu" x llama.cpp calibration row from the csv.

Usage: python benchmarks/cpu_calibration.py   (about 2-3 minutes on a 2-core VM)
Another kind of host (a new dev VM): --hardware-id ID --file NAME.csv writes data/cpu_host/NAME.csv and
NAME.json beside the first host's, which stay as they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tokbench.engines.llamacpp import default_threads
from tokbench.modelspec.model import ModelSpec

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "cpu_host"
DEPTHS = "64,256,1024"
HARDWARE_ID = "cpu-dev-vm-epyc-2c"  # this project's 2-core VM ("host" is any user's probed machine)
GEN, REPS = 64, 5

# (model id, spec, quant, role). Widths are multiples of 256 so Q4_K_M applies its real mixture.
# cpu-llama-m is held out: head_dim 128 (the fitted models have 64) at a size between the fitted
# ones; its quant (Q8_0) is in the fit through cpu-llama-s. (A qwen3 spec written this way did not
# load in llama-cpp-python 0.3.36, so the held-out model is a llama.)
MODELS = [
    ("cpu-llama-s", ModelSpec(name="cpu-llama-s", arch="llama", n_layers=4, hidden=512, n_heads=8, n_kv_heads=4,
                              head_dim=64, vocab=2048, intermediate=1536, context_length=4096), "Q8_0", "fit"),
    ("tokbench-default", ModelSpec(name="tokbench-default", arch="llama", n_layers=8, hidden=768, n_heads=12,
                                   n_kv_heads=4, head_dim=64, vocab=2048, intermediate=2048, context_length=4096),
     "Q4_K_M", "fit"),
    ("cpu-llama-l", ModelSpec(name="cpu-llama-l", arch="llama", n_layers=12, hidden=1024, n_heads=16, n_kv_heads=8,
                              head_dim=64, vocab=2048, intermediate=2816, context_length=4096), "Q4_K_M", "fit"),
    ("cpu-llama-m", ModelSpec(name="cpu-llama-m", arch="llama", n_layers=10, hidden=1024, n_heads=8, n_kv_heads=4,
                              head_dim=128, vocab=2048, intermediate=3072, context_length=4096), "Q8_0", "holdout"),
]
CONC_MODEL = "tokbench-default"  # the concurrency points: the model `tokbench bench` runs by default
FIELDS = ["hardware_id", "cpu", "cores", "threads", "bandwidth_gbs", "fp16_tflops", "clock_mhz", "generation", "model_id", "arch", "n_layers", "hidden",
          "n_heads", "n_kv_heads", "head_dim", "intermediate", "vocab", "quant_id", "engine_id", "metric", "depth",
          "concurrency", "tokens_per_s", "sd", "n", "role", "date", "command", "core_bandwidth_gbs", "llc_mib"]


def bench(path: Path, depths: str, conc: str, db: Path) -> list[dict]:
    """Run tokbench's own bench runner (a subprocess, as a user would) and return its result rows."""
    cmd = [sys.executable, "-m", "tokbench.cli.main", "bench", "--engine", "llama.cpp", "--model", str(path),
           "--context-depth", depths, "--concurrency", conc, "--gen-tokens", str(GEN), "--repetitions", str(REPS),
           "--json", "--db", str(db)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["results"]


def shape_columns(spec: ModelSpec) -> dict:
    """measurements.csv's columns that write a synthetic model's shape inline (calibrate.rows reads them)."""
    return {"arch": spec.arch, "n_layers": spec.n_layers, "hidden": spec.hidden, "n_heads": spec.n_heads,
            "n_kv_heads": spec.n_kv_heads, "head_dim": spec.head_dim, "intermediate": spec.intermediate,
            "vocab": spec.vocab}


def rows_for(mid: str, spec: ModelSpec, quant: str, role: str, results: list[dict], host: dict,
             hardware_id: str = HARDWARE_ID) -> list[dict]:
    """measurements.csv rows of one bench: decode (or per_stream) and prefill per point."""
    facts = host.get("cpu_facts") or {}
    base = {"hardware_id": hardware_id, "cpu": host["cpu"], "cores": host["cpu_count"], "threads": default_threads(),
            "bandwidth_gbs": f"{host['bandwidth']['bandwidth_gbs']:.2f}", "fp16_tflops": f"{host['compute']['tflops']:.4f}",
            "clock_mhz": f"{facts.get('clock_mhz') or 0:.0f}", "generation": facts.get("generation") or "cpu",
            # what one core reads, and the last-level cache (the speed model's per-core cap and resident weights)
            "core_bandwidth_gbs": f"{host['bandwidth']['by_threads'].get('1', '')}", "llc_mib": facts.get("llc_mib") or "",
            "model_id": mid, **shape_columns(spec), "quant_id": quant, "engine_id": "llama.cpp", "role": role,
            "date": dt.date.today().isoformat(),
            "command": f"tokbench bench --engine llama.cpp --context-depth {DEPTHS} --gen-tokens {GEN} "
                       f"--repetitions {REPS}"}
    out = []
    for r in results:
        c, d = r["concurrency"], r["context_depth"]
        ci = r.get("decode_tps_ci95") or {}
        metric = "decode" if c == 1 else "per_stream"
        out.append({**base, "metric": metric, "depth": d, "concurrency": c,
                    "tokens_per_s": f"{r['decode_tps_per_stream']['p50']:.2f}", "sd": f"{ci.get('sd', 0):.2f}",
                    "n": ci.get("n", r["ok"])})
        if c == 1 and r.get("prefill_tps"):
            # Prefill of a d-token prompt: its tokens attend d/2 earlier tokens on average.
            out.append({**base, "metric": "prefill", "depth": d // 2, "concurrency": 1,
                        "tokens_per_s": f"{r['prefill_tps']['p50']:.2f}", "sd": "", "n": r["ok"]})
    return out


def main(argv: list[str] | None = None) -> int:
    """Probe the host, synthesize and bench each model, write the csv and the probe."""
    import argparse

    from tokbench.env import probe_host
    from tokbench.synth import synthesize

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hardware-id", default=HARDWARE_ID, help="the rows' hardware id (one per kind of host)")
    ap.add_argument("--file", default="measurements.csv", help="csv name inside data/cpu_host/")
    a = ap.parse_args(argv)

    host = probe_host(measure=True)
    print(f"host: {host['cpu']}, {host['cpu_count']} cores, {host['bandwidth']['bandwidth_gbs']:.1f} GB/s, "
          f"{host['compute']['tflops']:.3f} TFLOP/s", flush=True)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="tokbench-cpucal-") as tmp:
        for mid, spec, quant, role in MODELS:
            path = synthesize(spec, quant, Path(tmp) / f"{mid}-{quant}.gguf", seed=0, vocab=spec.vocab)
            res = bench(path, DEPTHS, "1", Path(tmp) / "runs.db")
            if mid == CONC_MODEL:
                res += bench(path, "256", "4,8", Path(tmp) / "runs.db")
            new = rows_for(mid, spec, quant, role, res, host, a.hardware_id)
            for r in new:
                print(f"{mid:17} {quant:7} {r['metric']:10} d={r['depth']:5} c={r['concurrency']} "
                      f"{r['tokens_per_s']:>9} tok/s", flush=True)
            rows += new
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / a.file).open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    keep = {k: host.get(k) for k in ("os", "machine", "cpu", "cpu_count", "memory_bytes", "bandwidth", "compute")}
    probe = "host.json" if a.file == "measurements.csv" else Path(a.file).with_suffix(".json").name
    (OUT / probe).write_text(json.dumps({**keep, "date": dt.datetime.now(dt.timezone.utc).isoformat()},
                                              indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
