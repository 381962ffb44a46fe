"""Collect the GPU campaign's llama-server measurements (tokbench bench over HTTP) into
data/h100_campaign/: concurrency sweeps next to the planner, the client-vs-server fidelity check
(issue 7), and GPU memory used next to the planner's total (issue 8).

Usage: python benchmarks/gpu/collect_server.py RAW_DIR [RAW_DIR ...]
  then: python scripts/fit_calibration.py --write-roles   (the calibration split's role column)
  Each RAW_DIR holds campaign.jsonl and tokbench.db from one device call. Writes
  data/h100_campaign/server_sweeps.csv, server_memory.csv, fidelity.csv, raw/server-callN.db and
  adds the sweep rows (role "holdout": they check the concurrency model, which never saw them) to
  src/tokbench/catalog/data/published_measurements.csv.
"""

from __future__ import annotations

import csv
import json
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "h100_campaign"
PUBLISHED = ROOT / "src" / "tokbench" / "catalog" / "data" / "published_measurements.csv"
SOURCE = "measured here: H100 campaign 2026-11-25 (tokbench bench vs llama-server -np 16 -kvu)"
# llama-server flags the campaign used (benchmarks/gpu/campaign.py): 16 slots sharing 20480 cells.
SLOTS, N_CTX = 16, 20480


def runs_of(db: Path) -> list[dict]:
    from tokbench.store import open_store
    from tokbench.store.export import run_summaries

    out = []
    with open_store(db) as store:
        for info in store.list_runs():
            recs = store.records(info.id)
            model_path = info.config["model"].get("label") or ""
            out.append({"id": info.id, "model_file": Path(str(model_path)).name, "summaries": run_summaries(store, info.id),
                        "records": recs})
    return out


def model_quant(file_name: str) -> tuple[str, str]:
    stem = file_name.removesuffix(".gguf")
    model, _, quant = stem.rpartition("-")
    if quant in ("M", "S", "L"):  # Q4_K_M split at its last dash
        model, _, q1 = model.rpartition("-")
        quant = f"{q1}-{quant}"
    return model, quant.replace("-", "_")


def estimate(model: str, quant: str, depth: int, concurrency: int) -> dict:
    from tokbench.catalog.hardware import get_hardware
    from tokbench.plan import estimate as plan_estimate
    from tokbench.modelspec import load_spec

    # The same sweep the campaign ran: 128 generated tokens, 16 requests per point (3 at depth 4096).
    row = plan_estimate(load_spec(model), quant, get_hardware("h100-sxm"), engine="llama.cpp-server",
                        context=depth + 128, concurrency=concurrency, depth=depth + 64,
                        prompt_tokens=depth, gen_tokens=128, requests=16 if depth == 512 else 3)
    return row.to_dict()


def sweeps(dirs: list[Path]) -> tuple[list[dict], list[dict]]:
    rows, fidelity = [], []
    (DATA / "raw").mkdir(parents=True, exist_ok=True)
    for n, d in enumerate(dirs, 1):
        db = d / "tokbench.db"
        if not db.exists():
            continue
        shutil.copy(db, DATA / "raw" / f"server-call{d.name if d.name.isdigit() else n}.db")  # device call number
        for run in runs_of(db):
            model, quant = model_quant(run["model_file"])
            for s in run["summaries"]:
                c, depth = s["concurrency"], s["context_depth"]
                est = estimate(model, quant, depth, c)
                native = (s.get("native_decode_tps") or {}).get("mean")
                measured = s["decode_tps_per_stream"]["mean"]
                rows.append({
                    "model_id": model, "quant_id": quant, "concurrency": c, "context_depth": depth,
                    "requests": s["requests"], "ok": s["ok"], "errors": s["errors"],
                    "decode_tps_per_stream": round(measured, 2), "native_decode_tps": round(native, 2) if native else "",
                    "aggregate_output_tps": round(s["aggregate_output_tps"], 1),
                    "ttft_ms_p50": round(s["ttft_ms"]["p50"], 1), "itl_ms_p50": round(s["itl_ms"]["p50"], 2),
                    "est_decode_tps_per_stream": round(est["per_stream_decode_tps"], 1),
                    "est_aggregate_decode_tps": round(est["aggregate_decode_tps"], 1),
                    "meas_over_est": round(measured / est["per_stream_decode_tps"], 3),
                    "run_id": run["id"], "call": int(d.name) if d.name.isdigit() else n,
                })
            fidelity += fidelity_rows(run, model, quant)
    return rows, fidelity


def fidelity_rows(run: dict, model: str, quant: str) -> list[dict]:
    """Per point: tokbench's decode tok/s from its own token timestamps vs llama-server's
    timings.predicted_per_second for the very same requests (both exclude the first token)."""
    out = []
    by_point: dict[str, list] = {}
    for r in run["records"]:
        if r.status == "ok" and not r.warmup and r.native.get("predicted_per_second") and len(r.token_times) > 1:
            by_point.setdefault(r.point, []).append(r)
    for point, recs in by_point.items():
        client = [(len(r.token_times) - 1) / (r.token_times[-1] - r.token_times[0]) for r in recs]
        server = [r.native["predicted_per_second"] for r in recs]
        diffs = [c / s - 1 for c, s in zip(client, server)]
        out.append({"model_id": model, "quant_id": quant, "point": point, "requests": len(recs),
                    "tokbench_decode_tps": round(statistics.mean(client), 2),
                    "server_predicted_per_second": round(statistics.mean(server), 2),
                    "mean_diff_pct": round(100 * statistics.mean(diffs), 3),
                    "max_abs_diff_pct": round(100 * max(abs(x) for x in diffs), 3)})
    return out


def memory(dirs: list[Path]) -> list[dict]:
    from tokbench.catalog.hardware import get_hardware
    from tokbench.plan import estimate as plan_estimate
    from tokbench.modelspec import load_spec

    seen, out = set(), []
    for d in dirs:
        for line in (d / "campaign.jsonl").read_text().splitlines():
            rec = json.loads(line)
            key = (rec["model"], rec["quant"])
            if rec.get("kind") != "server-memory" or key in seen:
                continue
            seen.add(key)
            # -np 16 -kvu -c 20480: 16 sequences sharing 20480 cells = 1280 cells each on average.
            est = plan_estimate(load_spec(rec["model"]), rec["quant"], get_hardware("h100-sxm"), engine="llama.cpp",
                                context=N_CTX // SLOTS, concurrency=SLOTS).to_dict()
            used = rec["gpu_mem_used_mib"] * 2**20
            out.append({"model_id": rec["model"], "quant_id": rec["quant"], "gpu_mem_used_bytes": used,
                        "est_total_bytes": est["total_bytes"], "est_weights_bytes": est["weights_bytes"],
                        "est_kv_bytes": est["kv_bytes"], "est_state_bytes": est["state_bytes"],
                        "est_overhead_bytes": est["overhead_bytes"],
                        "est_over_used": round(est["total_bytes"] / used, 4)})
    return out


def write_csv(path: Path, rows: list[dict]) -> None:
    if rows:
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


def add_published(rows: list[dict]) -> None:
    with open(PUBLISHED, newline="") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        rows_in = list(reader)
    kept = [r for r in rows_in if not r["source"].startswith(SOURCE)]
    # Keep the roles the calibration split gave (scripts/fit_calibration.py --write-roles); new rows
    # are held out until that split says otherwise.
    roles = {(r["model_id"], r["quant_id"], r["test"]): r.get("role", "") for r in rows_in if r["source"].startswith(SOURCE)}
    new = []
    for r in rows:
        if r["context_depth"] != 512:
            continue  # the sweep points; the single depth-4096 point is llama-bench's territory
        base = {"hardware": "h100 (this workplace; 3011 GB/s copy)", "bandwidth_gbs": "3350",
                "model": f"synthetic {r['model_id']} (real shapes, random weights)", "quant": r["quant_id"],
                "engine": "llama.cpp CUDA (llama-server -np 16 -kvu)", "year": "2026",
                "source": f"{SOURCE}; data/h100_campaign/server_sweeps.csv", "hardware_id": "h100-sxm",
                "model_id": r["model_id"], "quant_id": r["quant_id"], "engine_id": "llama.cpp",
                "depth": 576, "concurrency": r["concurrency"], "role": "holdout"}
        test = f"{r['concurrency']} concurrent per stream (mean)"
        base["role"] = roles.get((r["model_id"], r["quant_id"], test)) or "holdout"
        new.append({**base, "test": test, "tokens_per_s": r["decode_tps_per_stream"], "metric": "per_stream"})
    with open(PUBLISHED, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(kept + new)


def main() -> None:
    dirs = [Path(a) for a in sys.argv[1:]]
    rows, fid = sweeps(dirs)
    mem = memory(dirs)
    write_csv(DATA / "server_sweeps.csv", rows)
    write_csv(DATA / "fidelity.csv", fid)
    write_csv(DATA / "server_memory.csv", mem)
    add_published(rows)
    for r in rows:
        print(f"{r['model_id']:16} {r['quant_id']:10} c={r['concurrency']:<3} d={r['context_depth']:<5} "
              f"meas {r['decode_tps_per_stream']:7.1f} est {r['est_decode_tps_per_stream']:7.1f} "
              f"agg {r['aggregate_output_tps']:7.1f}/{r['est_aggregate_decode_tps']:7.1f}")
    for f in fid:
        print(f"fidelity {f['model_id']:16} {f['point']:12} tokbench {f['tokbench_decode_tps']:7.2f} "
              f"server {f['server_predicted_per_second']:7.2f} mean diff {f['mean_diff_pct']:+.3f}% max {f['max_abs_diff_pct']:.3f}%")
    for m in mem:
        print(f"memory {m['model_id']:16} {m['quant_id']:10} used {m['gpu_mem_used_bytes'] / 2**30:6.2f} GiB "
              f"planner {m['est_total_bytes'] / 2**30:6.2f} GiB ({m['est_over_used']:.3f})")


if __name__ == "__main__":
    main()
