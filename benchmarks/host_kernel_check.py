#!/usr/bin/env python
"""Pre-registered test of plans for this CPU host rescaled to its llama.cpp kernel probe (issue 15, item 5).

    python benchmarks/host_kernel_check.py predict OUT.json [--set N]   # probe + predictions; commit, then
    python benchmarks/host_kernel_check.py measure OUT.json              # `tokbench bench` runs, OUT.md

``predict`` times this host's llama.cpp kernels (tokbench.env.kernels: the probe `tokbench bench` and
`tokbench plan --hardware host` run) and writes, for every model of a set (``SETS``) at its depths, the decode
tok/s the planner gives on this host with the probe and without it (the fitted CPU parameters alone),
through ``tokbench.plan.estimate`` (the function behind `tokbench plan`) with the arguments the bench's
own estimate column uses. The models are real architectures cut to a few layers by ``tokbench synth``
(``--scale-layers``, ``--scale-width``), none of them a shape the probe or the fit has seen.
``measure`` synthesizes each model and runs ``tokbench bench --engine llama.cpp`` on it as a user types
it, then writes a table of both planners' errors.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Per set: (model, quant, --scale-layers, --scale-width, concurrency list, depths)
SETS = {
    1: [  # 2026-12-01, planner 2999a36 (one compute factor for every kernel class, one probe)
        ("llama-3.1-8b", "Q4_0", 2, 0.25, "1,8", (64, 512)),  # 16 MB: in the cache
        ("qwen3-4b", "Q4_K_M", 3, None, "1", (64, 512)),  # ~180 MB: from memory
        ("llama-3.2-3b", "Q8_0", 2, None, "1", (64, 512)),
        ("qwen2.5-7b", "Q6_K", 1, None, "1", (64, 512)),
        ("gpt-oss-20b", "MXFP4_MOE", 1, None, "1", (64, 512)),  # MoE: 4 of 32 experts a token
    ],
    2: [  # 2026-12-01, after set 1: K-quant and block kernels timed apart, plans on the median of probes
        ("qwen3-4b", "Q4_K_M", 1, 0.5, "1,8", (128, 768)),  # ~15 MB: in the cache
        ("llama-3.2-3b", "Q8_0", 4, 0.5, "1", (128, 768)),  # ~100 MB
        ("qwen3-8b", "Q5_K_M", 1, None, "1", (128, 768)),
        ("gemma-3-27b", "Q4_K_M", 1, None, "1", (128,)),  # sliding-window layers
        ("qwen3-30b-a3b", "Q4_K_M", 1, None, "1", (128,)),  # MoE: 8 of 128 experts a token
        ("llama-3.1-8b", "IQ4_XS", 1, None, "1", (128, 768)),  # a table type: neither probed class
    ],
    3: [  # 2026-12-01, after set 2: unprobed classes keep the fit's rate, a MoE is cache-resident only whole,
        # the cache this process gets is the probes' median
        ("qwen3-8b", "Q4_0", 2, 0.25, "1,8", (256, 1024)),  # ~10 MB: in the cache
        ("llama-3.1-8b", "Q5_K_M", 1, 0.5, "1", (256, 1024)),  # ~38 MB: at the cache's edge
        ("qwen3-14b", "Q8_0", 4, 0.25, "1", (256, 1024)),
        ("qwen2.5-14b", "Q4_K_M", 1, None, "1", (256,)),
        ("llama-3.2-3b", "IQ4_NL", 2, None, "1", (256,)),
        ("gpt-oss-20b", "MXFP4_MOE", 2, None, "1", (256,)),  # MoE, 4 of 32 experts a token, 2 layers
    ],
    4: [  # 2026-12-01, after set 3: the cache is read at 0.92 of the small-array rate, the least of the probes
        ("llama-3.1-8b", "Q4_K_M", 3, 0.25, "1,8", (256, 1024)),  # 25 MiB: in the cache
        ("llama-3.2-3b", "Q6_K", 6, 0.25, "1", (256, 1024)),  # 31 MiB: at the edge, inside
        ("gemma-3-27b", "Q8_0", 2, 0.25, "1", (256, 1024)),  # 53 MiB: past the edge
        ("qwen3-8b", "Q4_K_M", 3, 0.5, "1", (256, 1024)),  # 84 MiB
        ("qwen2.5-7b", "Q4_0", 2, None, "1", (256,)),
        ("qwen3-30b-a3b", "Q4_K_M", 2, None, "1", (256,)),  # MoE, 8 of 128 experts a token, 2 layers
    ],
}
GEN, REPS = 64, 3


def _spec(model: str, layers: int | None, width: float | None):
    from tokbench.modelspec import load_spec
    from tokbench.synth import prepare

    return prepare(load_spec(model), layers, width)


def _estimate(spec, quant, hw, depth, conc):
    from tokbench.plan import estimate

    # as the bench's estimate column (tokbench.report.planview): the sweep's prompt, output and requests
    kw = dict(prompt_tokens=max(depth, 1), gen_tokens=GEN, requests=REPS if conc == 1 else 2 * conc)
    p = estimate(spec, quant, hw, engine="llama.cpp", context=depth + GEN, depth=depth + GEN // 2,
                 concurrency=conc, **kw)
    return p.per_stream_decode_tps if conc > 1 else p.decode_tps


def predict(out: Path, set_id: int) -> int:
    from dataclasses import asdict, replace

    from tokbench.engines.llamacpp import default_threads
    from tokbench.env import host_hardware
    from tokbench.plan.host import factors
    from tokbench.catalog.calibration import get_calibration

    t0 = time.time()
    hw = host_hardware(progress=lambda t: print(t, file=sys.stderr)).on_threads(default_threads())
    if hw.kernel_probe is None:
        print("no llama.cpp kernel probe on this host (llama-cpp-python missing?)", file=sys.stderr)
        return 1
    plain = replace(hw, kernel_probe=None)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    rows = []
    for model, quant, layers, width, concs, depths in SETS[set_id]:
        spec = _spec(model, layers, width)
        for conc in (int(c) for c in concs.split(",")):
            for d in depths:
                rows.append({"model": model, "quant": quant, "scale_layers": layers, "scale_width": width,
                             "depth": d, "concurrency": conc,
                             "probed_tps": round(_estimate(spec, quant, hw, d, conc), 2),
                             "fitted_tps": round(_estimate(spec, quant, plain, d, conc), 2)})
    doc = {"set": set_id, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "planner_commit": commit,
           "host": {"cpu": hw.name, "threads": hw.compute_units, "bandwidth_gbs": hw.bandwidth_gbs,
                    "core_bandwidth_gbs": hw.core_bandwidth_gbs, "llc_mib": hw.llc_mib, "clock_mhz": hw.clock_mhz,
                    "generation": hw.generation},
           "probe": asdict(hw.kernel_probe),
           "factors": dict(zip(("compute", "attention", "memory", "batch", "prefill", "block"),
                               (round(f, 3) for f in factors(get_calibration(hw, "llama.cpp"), hw, hw.kernel_probe)))),
           "bench": f"tokbench bench --engine llama.cpp --model M --context-depth D --concurrency C "
                    f"--gen-tokens {GEN} --repetitions {REPS}",
           "predictions": rows, "seconds": round(time.time() - t0, 1)}
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out} ({len(rows)} predictions, {doc['seconds']} s)")
    return 0


def measure(pred_path: Path) -> int:
    doc = json.loads(pred_path.read_text())
    results = []
    with tempfile.TemporaryDirectory(prefix="tokbench-hostcheck-") as tmp:
        for model, quant, layers, width, concs, depths in SETS[doc.get("set", 1)]:
            path = Path(tmp) / f"{model}-{quant}.gguf"
            cmd = ["tokbench", "synth", model, "--quant", quant, "--out", str(path), "--scale-layers", str(layers)]
            if width:
                cmd += ["--scale-width", str(width)]
            subprocess.run([sys.executable, "-m", "tokbench.cli.main", *cmd[1:]], check=True, capture_output=True)
            bench = ["tokbench", "bench", "--engine", "llama.cpp", "--model", str(path), "--context-depth",
                     ",".join(map(str, depths)), "--concurrency", concs, "--gen-tokens", str(GEN),
                     "--repetitions", str(REPS), "--json", "--db", str(Path(tmp) / "db.sqlite")]
            t0 = time.time()
            run = subprocess.run([sys.executable, "-m", "tokbench.cli.main", *bench[1:]], check=True,
                                 capture_output=True, text=True)
            # with --concurrency the bench runs sweep points only: "c=1 d=64" is the single stream there
            for r in json.loads(run.stdout)["runs"][0]["results"]:
                if r["point"].startswith("c="):
                    results.append({"model": model, "quant": quant, "depth": r["context_depth"],
                                    "concurrency": r["concurrency"], "measured_tps": r["decode_tps_per_stream"]["p50"],
                                    "bench_estimate": (r.get("plan") or {}).get("decode_tps")})
            print(f"{model} {quant}: {time.time() - t0:.0f} s", file=sys.stderr)
            path.unlink()
    lines = report(pred_path.name, doc, results, time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))
    md = pred_path.with_suffix(".md")
    md.write_text("\n".join(lines) + "\n")
    pred_path.with_name(pred_path.stem + "-measured.json").write_text(json.dumps(results, indent=1) + "\n")
    print("\n".join(lines))
    return 0


def report(name: str, doc: dict, results: list[dict], measured_at: str) -> list[str]:
    """The markdown lines of a set: each prediction beside its measurement, both planners' errors."""
    set_id = doc.get("set", 1)
    lines = [f"# This host's plans rescaled to its llama.cpp kernel probe: pre-registered check, set {set_id}",
             "", f"Predictions: `{name}` (planner {doc['planner_commit'][:7]}, {doc['date']}), committed before",
             f"this measurement ({measured_at}). Host: {doc['host']['cpu']}, "
             f"{doc['host']['threads']} llama.cpp thread(s); probe factors {doc['factors']}.",
             f"Measured with `{doc['bench']}` (decode: median of the requests, tok/s per stream).", "",
             "| model | quant | layers | conc. | depth | measured | probed plan | error | fitted plan | error |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    errs: dict[str, list[float]] = {"probed": [], "fitted": []}
    for p in doc["predictions"]:
        m = next((r for r in results if (r["model"], r["quant"], r["depth"], r["concurrency"])
                  == (p["model"], p["quant"], p["depth"], p["concurrency"])), None)
        if m is None:
            continue
        e = {k: 100 * (p[f"{k}_tps"] / m["measured_tps"] - 1) for k in errs}
        for k in errs:
            errs[k].append(abs(e[k]))
        layers = f"{p['scale_layers']}{' x' + str(p['scale_width']) if p['scale_width'] else ''}"
        lines.append(f"| {p['model']} | {p['quant']} | {layers} | {p['concurrency']} | {p['depth']} "
                     f"| {m['measured_tps']:.1f} | {p['probed_tps']:.1f} | {e['probed']:+.1f}% "
                     f"| {p['fitted_tps']:.1f} | {e['fitted']:+.1f}% |")
    if not errs["probed"]:
        return lines + ["", "No prediction has a measurement."]
    n = len(errs["probed"])
    lines += ["", f"Mean absolute error over {n} rows: **probed {statistics.mean(errs['probed']):.1f}%**, "
                  f"fitted parameters alone {statistics.mean(errs['fitted']):.1f}%; within 20%: "
                  f"{sum(e <= 20 for e in errs['probed'])} of {n} (probed), "
                  f"{sum(e <= 20 for e in errs['fitted'])} (fitted)."]
    return lines


def main(argv: list[str]) -> int:
    set_id = int(argv[argv.index("--set") + 1]) if "--set" in argv else 1
    argv = [a for i, a in enumerate(argv) if a != "--set" and (i == 0 or argv[i - 1] != "--set")]
    if len(argv) != 2 or argv[0] not in ("predict", "measure") or set_id not in SETS:
        print(__doc__, file=sys.stderr)
        return 2
    return predict(Path(argv[1]), set_id) if argv[0] == "predict" else measure(Path(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
