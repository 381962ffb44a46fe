"""The pre-registered H200 test (issue 15): measured figures against the predictions committed before
the machine was measured, for the planner before (v3) and after (v4) the speed-model rewrite.

Reads the campaign's raw output (data/h200_campaign/raw/*.jsonl, as benchmarks/gpu/h200_session.sh
brought it back) and the dated prediction files (data/h200_campaign/predictions-*.json). Writes
data/h200_campaign/measured.csv (one row per measured figure) and data/h200_campaign/results.md
(per-row errors, and per group: MAPE, signed mean, share inside the band). Nothing here is fitted:
the H200 is in no fit (src/tokbench/calibrate/rows.py never reads these files).

Usage: python benchmarks/gpu/h200_report.py
"""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "h200_campaign"
RAW = DATA / "raw"
# The first two-GPU file (predictions-v4-2gpu.json) named the tensor split "sm-row"; this llama.cpp refuses
# -sm row on CUDA ("does not support split buffers") and was measured with -sm tensor, its tensor split.
LEGACY_RUN = {"sm-tensor": "sm-row"}
# Two-GPU prediction files: pre-registered ones first (a row takes the first file that has it), then the
# planner of a later commit for what no file pre-registered (prefill, llama-3.1-8b): post-hoc, marked so.
PREREGISTERED_2GPU = ("predictions-v4-2gpu.json", "preregistered_x2_2026-11-30.json")
POSTHOC_2GPU = "predictions-2gpu-posthoc.json"


def _lines(pattern: str):
    for path in sorted(RAW.glob(pattern)):
        for line in path.read_text().splitlines():
            if line.strip():
                yield path.name, json.loads(line)


def _bench_test(row: dict) -> tuple[str, str]:
    """(test name as the prediction files spell it, metric) of one llama-bench JSON row."""
    if row["n_gen"] > 0:
        return f"tg{row['n_gen']} @ d{row['n_depth']}", "decode_tps"
    return f"pp{row['n_prompt']} @ d{row['n_depth']}", "prefill_tps"


def measured_rows() -> list[dict]:
    """Every measured figure of the single-GPU campaign, the speculative run and the two-GPU splits."""
    out = []
    for name, r in _lines("gpu*-campaign.jsonl"):
        base = {"model": r["model"], "quant": r["quant"], "file": name}
        if r["kind"] == "llama-bench":
            test, metric = _bench_test(r["row"])
            out.append({**base, "engine": "llama.cpp", "run": "1 GPU", "test": test, "metric": metric,
                        "measured": r["row"]["avg_ts"], "sd": r["row"].get("stddev_ts"),
                        "samples": len(r["row"].get("samples_ts") or [])})
        elif r["kind"] == "tokbench-bench":
            for p in r["result"]["results"]:
                c = p["concurrency"]
                test = "1 stream @ d4096" if r["label"] == "depth4096" else f"sweep c={c} prompt 512"
                metric = "decode_tps" if r["label"] == "depth4096" else "decode_tps_per_stream"
                out.append({**base, "engine": "llama.cpp-server", "run": "1 GPU", "test": test, "metric": metric,
                            "measured": p["decode_tps_per_stream"]["p50"], "sd": None,
                            "samples": p.get("requests_ok") or p.get("n_requests"),
                            "aggregate_tps": p.get("aggregate_output_tps")})
    for name, r in _lines("multi*.jsonl"):
        if r["kind"] != "llama-bench":
            continue
        test, metric = _bench_test(r["row"])
        out.append({"model": r["model"], "quant": r["quant"], "file": name, "engine": "llama.cpp",
                    "run": r["mode"], "mode": r["mode"], "test": test, "metric": metric,
                    "measured": r["row"]["avg_ts"], "sd": r["row"].get("stddev_ts"),
                    "samples": len(r["row"].get("samples_ts") or [])})
    return out


def _predictions(name: str) -> dict:
    doc = json.loads((DATA / name).read_text())
    return {(p["model"], p["quant"], p["engine"], p.get("run", "1 GPU"), p["test"]): p for p in doc["rows"]}, doc


def _two_gpu(key: tuple, files: list[tuple[str, dict]]) -> tuple[dict | None, str | None]:
    """The first of ``files`` (name, rows) with a prediction for a two-GPU ``key`` (legacy run names too)."""
    model, quant, engine, run, test = key
    for name, rows in files:
        p = rows.get(key) or rows.get((model, quant, engine, LEGACY_RUN.get(run, run), test))
        if p is not None:
            return p, name
    return None, None


def _err(pred: float | None, meas: float) -> float | None:
    return None if pred is None else (pred - meas) / meas


def compare() -> tuple[list[dict], dict]:
    """Measured rows joined with the v3 and v4 predictions (single GPU) and the v4 two-GPU ones."""
    v3, d3 = _predictions("predictions-v3-before.json")
    v4, d4 = _predictions("predictions-v4.json")
    pre = [(n, *_predictions(n)) for n in PREREGISTERED_2GPU if (DATA / n).exists()]
    post = [(POSTHOC_2GPU, *_predictions(POSTHOC_2GPU))] if (DATA / POSTHOC_2GPU).exists() else []
    rows = []
    for m in measured_rows():
        key = (m["model"], m["quant"], m["engine"], m["run"], m["test"])
        p4, level = v4.get(key), None
        two = m["run"] != "1 GPU"
        if two:
            p4, source = _two_gpu(key, [(n, r) for n, r, _ in pre])
            level = source and f"pre-registered ({source})"
            ph, _ = _two_gpu(key, [(n, r) for n, r, _ in post])
            m = {**m, "posthoc": ph and ph["predicted"], "posthoc_low": ph and ph.get("low"),
                 "posthoc_high": ph and ph.get("high")}
            if p4 is None and ph is not None:
                p4, level = ph, f"post-hoc ({POSTHOC_2GPU}; not pre-registered)"
        p3 = v3.get(key)
        row = {**m, "v3": p3 and p3["predicted"], "v4": p4 and p4["predicted"],
               "v4_low": p4 and p4.get("low"), "v4_high": p4 and p4.get("high"),
               "level": level or (p4 and p4.get("level")), "preregistered": bool(level and level.startswith("pre"))}
        row["err_posthoc"] = _err(row.get("posthoc"), m["measured"])
        row["err_v3"] = _err(row["v3"], m["measured"])
        row["err_v4"] = _err(row["v4"], m["measured"])
        lo, hi = row["v4_low"], row["v4_high"]
        row["inside_v4"] = None if lo is None or hi is None else lo <= m["measured"] <= hi
        rows.append(row)
    meta = {"v3": {k: d3[k] for k in ("git_commit", "date")}, "v4": {k: d4[k] for k in ("git_commit", "date")},
            **{n: {k: d[k] for k in ("git_commit", "date")} for n, _, d in pre + post}}
    return rows, meta


GROUPS = (
    ("single stream decode (llama-bench tg128, llama-server 1 stream)",
     lambda r: r["run"] == "1 GPU" and r["metric"] == "decode_tps" or r["test"].startswith("sweep c=1 ")),
    ("llama-server per stream at 8 and 16 concurrent",
     lambda r: r["run"] == "1 GPU" and r["test"].startswith(("sweep c=8 ", "sweep c=16 "))),
    ("prefill (llama-bench pp512)", lambda r: r["run"] == "1 GPU" and r["metric"] == "prefill_tps"),
    ("two GPUs: decode, pre-registered (layer split, RPC, tensor split)",
     lambda r: r["run"] != "1 GPU" and r["metric"] == "decode_tps" and r["preregistered"]),
    ("  of which the first registration (70B, 397B; predictions-v4-2gpu.json)",
     lambda r: r["run"] != "1 GPU" and r["metric"] == "decode_tps" and "v4-2gpu" in (r["level"] or "")),
    ("  of which the second (5 models new to splits, after the split model was revised; preregistered_x2)",
     lambda r: r["run"] != "1 GPU" and r["metric"] == "decode_tps" and "preregistered_x2" in (r["level"] or "")),
    ("two GPUs: prefill pp512, pre-registered", lambda r: r["run"] != "1 GPU" and r["metric"] == "prefill_tps"
     and r["preregistered"]),
    ("two GPUs: prefill pp512, post-hoc (not pre-registered)", lambda r: r["run"] != "1 GPU"
     and r["metric"] == "prefill_tps" and not r["preregistered"] and r["v4"] is not None),
)
# The two-GPU rows against the planner of the post-hoc file, per split mode and metric (in-sample where
# that planner's split terms were fitted on them: its note says which).
POSTHOC_GROUPS = [(f"{run}: {metric}", run, metric) for run in ("sm-layer", "rpc", "sm-tensor")
                  for metric in ("decode_tps", "prefill_tps")]


def summary(rows: list[dict], key: str) -> dict:
    """MAPE, signed mean error and count of the rows with a prediction under ``key`` (err_v3/err_v4)."""
    errs = [r[key] for r in rows if r[key] is not None]
    if not errs:
        return {"n": 0}
    inside = [r["inside_v4"] for r in rows if r["inside_v4"] is not None] if key == "err_v4" else []
    return {"n": len(errs), "mape": statistics.fmean(abs(e) for e in errs), "bias": statistics.fmean(errs),
            "max": max(errs, key=abs), "inside": (sum(inside) / len(inside)) if inside else None}


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:+.1f}%"


def write(rows: list[dict], meta: dict) -> str:
    cols = ["model", "quant", "engine", "run", "test", "metric", "measured", "sd", "samples", "v3", "v4", "v4_low",
            "v4_high", "level", "err_v3", "err_v4", "inside_v4", "posthoc", "err_posthoc", "file"]
    with open(DATA / "measured.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
    lines = ["# H200: measured against the pre-registered predictions", "",
             "Machine: 2x NVIDIA H200 (141 GB HBM3e each, NVLink NV18), one host, 32 cores; llama.cpp CUDA",
             "(sm_90) built from the llama-cpp-python 0.3.36 sources; synthetic real-size GGUFs (`tokbench synth`).",
             "Measured 2026-11-30 by `benchmarks/gpu/h200_session.sh` (single-GPU models on both GPUs at once,",
             "disjoint lists; then the two-GPU splits). Predictions committed before measuring:",
             f"v3 (the planner before the rewrite) at {meta['v3']['git_commit'][:7]} ({meta['v3']['date']}),",
             f"v4 at {meta['v4']['git_commit'][:7]} ({meta['v4']['date']}); two GPUs: "
             + ", ".join(f"{n} at {m['git_commit'][:7]} ({m['date']})" for n, m in meta.items()
                         if n in PREREGISTERED_2GPU) + ".",
             "The H200 is in no fit. Error = (predicted - measured) / measured. Two-GPU rows: `sm-tensor` is",
             "llama.cpp's -sm tensor (predictions-v4-2gpu.json called it sm-row: -sm row is refused on CUDA here).",
             "The second registration's rows were measured on a second lease (raw/multi-x2-prereg-call1.jsonl: qwen2.5-32b,",
             "qwen3-next-80b-a3b, gpt-oss-120b, layer and tensor split); those from multi-x2-prereg-transcribed.jsonl",
             "(qwen3-30b-a3b tensor split, gemma-3-27b) were copied from a device call's printed log after the machine",
             "that wrote them was released (raw/x2-session2-transcribed.md). RPC was not measured in the second test.", "",
             "| group | n | v3 MAPE | v3 bias | v4 MAPE | v4 bias | v4 worst | inside v4 band |", "|---|---|---|---|---|---|---|---|"]
    for title, pick in GROUPS:
        sel = [r for r in rows if pick(r)]
        s3, s4 = summary(sel, "err_v3"), summary(sel, "err_v4")
        inside = "" if s4.get("inside") is None else f"{100 * s4['inside']:.0f}%"
        lines.append(f"| {title} | {s4.get('n', 0)} | {_pct(s3.get('mape')).lstrip('+')} | {_pct(s3.get('bias'))} | "
                     f"{_pct(s4.get('mape')).lstrip('+')} | {_pct(s4.get('bias'))} | {_pct(s4.get('max'))} | {inside} |")
    lines += ["", "| model | quant | engine | run | test | measured | v3 | err | v4 [band] | err | level |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        band = "" if r["v4_low"] is None else f" [{r['v4_low']:.0f}-{r['v4_high']:.0f}]"
        v4 = "" if r["v4"] is None else f"{r['v4']:.1f}{band}"
        v3 = "" if r["v3"] is None else f"{r['v3']:.1f}"
        run = r["run"] if r.get("mode") in (None, r["run"]) else f"{r['run']} (measured as -sm {r['mode'][3:]})"
        lines.append(f"| {r['model']} | {r['quant']} | {r['engine']} | {run} | {r['test']} | {r['measured']:.1f} | {v3} | "
                     f"{_pct(r['err_v3'])} | {v4} | {_pct(r['err_v4'])} | {r['level'] or ''} |")
    lines += _posthoc_lines(rows, meta)
    text = "\n".join(lines) + "\n"
    (DATA / "results.md").write_text(text)
    return text


def _posthoc_lines(rows: list[dict], meta: dict) -> list[str]:
    """The two-GPU rows against the post-hoc planner, per split mode and metric, beside the pre-registered."""
    if POSTHOC_2GPU not in meta:
        return []
    m = meta[POSTHOC_2GPU]
    out = ["", f"## Two GPUs against the planner at {m['git_commit'][:7]} ({m['date']}, {POSTHOC_2GPU}): post-hoc", "",
           "Not a test: that planner's split terms (llama.cpp's all-reduce sync, RPC's payload rate) were fitted on",
           "llama-3.3-70b and llama-3.1-8b -sm tensor tg128 and llama-3.3-70b RPC, so those rows are in-sample.", "",
           "| split mode: metric | n | pre-registered MAPE | post-hoc MAPE | post-hoc bias | post-hoc worst |",
           "|---|---|---|---|---|---|"]
    two = [r for r in rows if r["run"] != "1 GPU"]
    for title, run, metric in POSTHOC_GROUPS:
        sel = [r for r in two if r["run"] == run and r["metric"] == metric]
        pre = summary([r for r in sel if r["preregistered"]], "err_v4")
        post = summary(sel, "err_posthoc")
        if post.get("n"):
            out.append(f"| {title} | {post['n']} | {_pct(pre.get('mape')).lstrip('+')} | "
                       f"{_pct(post['mape']).lstrip('+')} | {_pct(post['bias'])} | {_pct(post['max'])} |")
    out += ["", "| model | quant | run | test | measured | pre-registered | err | post-hoc [band] | err |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in two:
        pre = f"{r['v4']:.1f}" if r["preregistered"] else ""
        band = "" if r.get("posthoc_low") is None else f" [{r['posthoc_low']:.0f}-{r['posthoc_high']:.0f}]"
        post = "" if r.get("posthoc") is None else f"{r['posthoc']:.1f}{band}"
        out.append(f"| {r['model']} | {r['quant']} | {r['run']} | {r['test']} | {r['measured']:.1f} | {pre} | "
                   f"{_pct(r['err_v4']) if r['preregistered'] else ''} | {post} | {_pct(r['err_posthoc'])} |")
    return out


def main() -> None:
    rows, meta = compare()
    print(write(rows, meta))


if __name__ == "__main__":
    main()
