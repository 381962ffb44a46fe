"""Turn the GPU campaign's raw output (campaign.jsonl files fetched from the device) into the
committed dataset under data/h100_campaign/ and into calibration rows.

Usage: python benchmarks/gpu/collect.py RAW_DIR [RAW_DIR ...]
  Each RAW_DIR holds campaign.jsonl and env.json from one device call. Writes
  data/h100_campaign/raw/callN.jsonl, env-callN.json, llama_bench.csv, and replaces the rows of
  src/tokbench/catalog/data/published_measurements.csv whose source starts with SOURCE.

Rows for the same model x quant x test from several calls are merged: every repetition sample is
kept, and the mean and sample sd are over all of them. ``role`` marks which rows the calibration is
fitted on ("fit") and which are held out to check it ("holdout"): the fit uses the Llama-3.1-8B
quants and Qwen2.5-14B; the held-out rows are every other architecture, so the check covers MoE,
hybrid and larger dense models that the fit never saw.
"""

from __future__ import annotations

import csv
import json
import shutil
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "h100_campaign"
PUBLISHED = ROOT / "src" / "tokbench" / "catalog" / "data" / "published_measurements.csv"
SOURCE = "measured here: H100 campaign 2026-11-25"
FIT_MODELS = {"llama-3.1-8b", "qwen2.5-14b"}


def read_calls(dirs: list[Path]) -> tuple[list[dict], list[dict]]:
    rows, envs = [], []
    (DATA / "raw").mkdir(parents=True, exist_ok=True)
    for n, d in enumerate(dirs, 1):
        shutil.copy(d / "campaign.jsonl", DATA / "raw" / f"call{n}.jsonl")
        env = json.loads((d / "env.json").read_text())
        shutil.copy(d / "env.json", DATA / "raw" / f"env-call{n}.json")
        envs.append(env)
        for line in (d / "campaign.jsonl").read_text().splitlines():
            rec = json.loads(line)
            if rec.get("kind") == "llama-bench":
                rows.append({"call": n, "model": rec["model"], "quant": rec["quant"], **rec["row"]})
    return rows, envs


def merge(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["model"], r["quant"], r["n_prompt"], r["n_gen"], r["n_depth"])].append(r)
    out = []
    for (model, quant, n_prompt, n_gen, depth), rs in sorted(groups.items()):
        samples = [s for r in rs for s in r["samples_ts"]]
        out.append({
            "model_id": model, "quant_id": quant,
            "test": f"pp{n_prompt}" if n_prompt else f"tg{n_gen}", "n_depth": depth,
            "tokens_per_s": round(statistics.mean(samples), 2),
            "sd": round(statistics.stdev(samples), 2) if len(samples) > 1 else 0.0,
            "n_samples": len(samples), "calls": ";".join(str(r["call"]) for r in rs),
            "samples_ts": ";".join(f"{s:.2f}" for s in samples),
            "model_size_bytes": rs[0]["model_size"], "model_n_params": rs[0]["model_n_params"],
            "model_type": rs[0]["model_type"], "gpu": rs[0]["gpu_info"], "flash_attn": rs[0]["flash_attn"],
            "role": "fit" if model in FIT_MODELS else "holdout",
        })
    return out


def write_dataset(merged: list[dict]) -> None:
    with open(DATA / "llama_bench.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(merged[0]))
        w.writeheader()
        w.writerows(merged)


def update_published(merged: list[dict], bw: float) -> int:
    with open(PUBLISHED, newline="") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        kept = [r for r in reader if not r["source"].startswith(SOURCE)]
    if "role" not in fields:
        fields.append("role")
    new = []
    for m in merged:
        decode = m["test"].startswith("tg")
        n = int(m["test"][2:])
        # depth = the mean context while the test runs, as the other rows of this file count it
        depth = m["n_depth"] + n // 2
        label = m["test"] + (f" @ d{m['n_depth']}" if m["n_depth"] else "")
        new.append({
            "hardware": f"h100 (this workplace; {bw:.0f} GB/s copy)", "bandwidth_gbs": "3350",
            "model": f"synthetic {m['model_id']} (real shapes, random weights)", "quant": m["quant_id"],
            "engine": "llama.cpp CUDA (llama-cpp-python 0.3.36 sources)", "test": label,
            "tokens_per_s": m["tokens_per_s"], "year": "2026",
            "source": f"{SOURCE} (llama-bench, {m['n_samples']} samples, sd {m['sd']}); data/h100_campaign",
            "hardware_id": "h100-sxm", "model_id": m["model_id"], "quant_id": m["quant_id"], "engine_id": "llama.cpp",
            "metric": "decode" if decode else "prefill", "depth": depth, "concurrency": 1, "role": m["role"],
        })
    with open(PUBLISHED, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(kept + new)
    return len(new)


def main() -> None:
    dirs = [Path(a) for a in sys.argv[1:]]
    rows, envs = read_calls(dirs)
    merged = merge(rows)
    write_dataset(merged)
    bw = statistics.median(e["copy_bandwidth_gbs"] for e in envs if "copy_bandwidth_gbs" in e)
    n = update_published(merged, bw)
    print(f"{len(rows)} llama-bench rows from {len(dirs)} calls -> {len(merged)} merged; {n} calibration rows; copy bw {bw:.0f} GB/s")


if __name__ == "__main__":
    main()
