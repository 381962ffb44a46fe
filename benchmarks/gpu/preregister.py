"""Pre-register the planner's predictions for a GPU campaign before it is measured (issue 15).

Writes one JSON file of every figure the campaign will measure, as the planner predicts it now:
llama-bench's tg128 and pp512 at depth 0 and 4096 for each model x quant (engine llama.cpp, in
process), and `tokbench bench` sweeps against llama-server (engine llama.cpp-server): one stream at
depth 4096, and 1 / 8 / 16 concurrent requests with 512-token prompts, 128 generated tokens and 16
requests per point (the per-stream rate such a closed-loop sweep measures, plan.serving). The file
records the git commit and date, so the prediction provably predates the measurement.

It uses only ``tokbench.plan.estimate`` with catalog ids, so the same script also records what an
earlier planner predicted (run it from a checkout of that commit with ``--label``).

Usage (repository root): python benchmarks/gpu/preregister.py --hardware h200 --out data/h200_campaign/
One GPU, other models and depths: add --models MODEL:QUANT ... --depths 0,4096,16384 --no-server --file NAME;
llama-server sweeps of other models: --models MODEL:QUANT ... --server-only --file NAME.
Two GPUs (issue 11): add --cluster 2 [--models MODEL:QUANT ...] [--runs sm-layer rpc sm-tensor] [--file NAME].
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
from pathlib import Path

LLAMA_BENCH = ["llama-3.1-8b:Q4_K_M", "llama-3.1-8b:Q8_0", "llama-3.1-8b:F16", "qwen2.5-7b:Q4_K_M",
               "qwen2.5-14b:Q4_K_M", "qwen2.5-32b:Q4_K_M", "llama-3.3-70b:Q4_K_M", "gemma-3-27b:Q4_K_M",
               "qwen3-30b-a3b:Q4_K_M", "qwen3-30b-a3b:Q8_0", "gpt-oss-20b:MXFP4_MOE", "gpt-oss-120b:MXFP4_MOE",
               "qwen3-next-80b-a3b:Q4_K_M", "qwen3.5-397b-a17b:IQ2_XXS"]
SERVER = ["llama-3.1-8b:Q4_K_M", "qwen3-30b-a3b:Q4_K_M", "qwen3.5-397b-a17b:IQ2_XXS"]
PROMPT, GEN, REQUESTS = 512, 128, 16  # the campaign's sweep workload (benchmarks/gpu/campaign.py)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _dirty() -> bool:
    """True when the working tree differs from the commit recorded (the file then is not that commit's)."""
    try:
        r = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "src"], capture_output=True,
                           text=True, check=True)
        return bool(r.stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return True


def _row(est, **keys) -> dict:
    cal = est.calibration or {}
    return {**keys, "level": cal.get("level") or cal.get("family"), "basis": cal.get("basis")}


def llama_bench_rows(hw: str, models: list[str] | None = None, depths: tuple[int, ...] = (0, 4096)) -> list[dict]:
    """tg128 / pp512 at each start depth (default 0 and 4096), as llama-bench measures them (depth = start +
    half the test)."""
    from tokbench.plan import estimate

    out = []
    for item in models or LLAMA_BENCH:
        model, quant = item.split(":")
        for start in depths:
            e = estimate(model, quant, hw, "llama.cpp", context=start + 64)
            out.append(_row(e, model=model, quant=quant, engine="llama.cpp", test=f"tg128 @ d{start}",
                            depth=start + 64, concurrency=1, metric="decode_tps", predicted=e.decode_tps,
                            low=e.decode_tps_low, high=e.decode_tps_high))
            p = estimate(model, quant, hw, "llama.cpp", context=2 * (start + 256))  # mean depth start + 256
            out.append(_row(p, model=model, quant=quant, engine="llama.cpp", test=f"pp512 @ d{start}",
                            depth=start + 256, concurrency=1, metric="prefill_tps", predicted=p.prefill_tps,
                            low=p.prefill_tps_low, high=p.prefill_tps_high))
    return out


def server_rows(hw: str, models: list[str] | None = None) -> list[dict]:
    """llama-server through tokbench bench: one stream at depth 4096, and the 1/8/16 sweep at prompt 512."""
    from tokbench.plan import estimate

    out = []
    for item in models or SERVER:
        model, quant = item.split(":")
        e = estimate(model, quant, hw, "llama.cpp-server", context=4096 + GEN // 2)
        out.append(_row(e, model=model, quant=quant, engine="llama.cpp-server", test="1 stream @ d4096",
                        depth=4096 + GEN // 2, concurrency=1, metric="decode_tps", predicted=e.decode_tps,
                        low=e.decode_tps_low, high=e.decode_tps_high))
        for n in (1, 8, 16):
            e = estimate(model, quant, hw, "llama.cpp-server", context=PROMPT + GEN // 2, concurrency=n,
                         prompt_tokens=PROMPT, gen_tokens=GEN, requests=REQUESTS)
            value = e.decode_tps if n == 1 else e.per_stream_decode_tps
            out.append(_row(e, model=model, quant=quant, engine="llama.cpp-server",
                            test=f"sweep c={n} prompt {PROMPT}", depth=PROMPT + GEN // 2, concurrency=n,
                            metric="decode_tps_per_stream", predicted=value,
                            low=e.decode_tps_low if n == 1 else None, high=e.decode_tps_high if n == 1 else None))
    return out


# Two GPUs of one host (issue 11): llama-bench with -sm layer / -sm tensor over both GPUs, and a local GPU
# plus an rpc-server process on the other GPU (RPC over loopback TCP), as benchmarks/gpu/multi_gpu.py runs
# them (its --modes). The first file (predictions-v4-2gpu.json) named the tensor split "sm-row": this
# llama.cpp refuses -sm row on CUDA and its tensor parallelism is -sm tensor.
CLUSTER = ["llama-3.3-70b:Q4_K_M", "qwen3.5-397b-a17b:IQ4_XS"]
CLUSTER_RUNS = {"sm-layer": ("pipeline", "nvlink"), "sm-tensor": ("tensor", "nvlink"), "rpc": ("pipeline", "loopback")}


def _cluster_row(p, **keys) -> dict:
    return {**keys, "engine": "llama.cpp", "feasible": p.feasible, "problems": p.problems,
            "link_ms": p.link_ms_per_token, "single_gpu_decode": p.single_node_decode_tps,
            "single_gpu_prefill": p.single_node_prefill_tps,
            "nodes": [{"layers": x.layers, "total_gib": round(x.total_bytes / 2**30, 2), "fits": x.fits} for x in p.nodes]}


def cluster_rows(hw: str, n: int = 2, models: list[str] | None = None, runs: list[str] | None = None) -> list[dict]:
    """tg128 and pp512 at depth 0 and 4096 of each model on ``n`` x ``hw`` per llama.cpp split mode (run).

    llama-bench's tg128 at depth d decodes at d + 64 on average with d + 128 cells of KV; its pp512
    processes 512 prompt tokens (one ubatch) that attend d + 256 earlier tokens on average."""
    from tokbench.plan.cluster import Topology, get_link, parse_nodes, plan_cluster
    from tokbench.report.reference import model_spec

    out = []
    nodes = parse_nodes(f"{n}x {hw}")
    for item in models or CLUSTER:
        model, quant = item.split(":")
        spec = model_spec(model)
        for run in runs or CLUSTER_RUNS:
            split, link = CLUSTER_RUNS[run]
            topo = Topology(nodes, get_link(link), split)
            for start in (0, 4096):
                keys = dict(model=model, quant=quant, run=run, split=split, link=link)
                d = plan_cluster(spec, quant, topo, "llama.cpp", context=start + 128, depth=start + 64)
                out.append(_cluster_row(d, **keys, test=f"tg128 @ d{start}", depth=start + 64, metric="decode_tps",
                                        predicted=d.decode_tps, low=d.decode_tps_low, high=d.decode_tps_high))
                p = plan_cluster(spec, quant, topo, "llama.cpp", context=start + 512, prompt_tokens=512,
                                 prompt_depth=start + 256)
                out.append(_cluster_row(p, **keys, test=f"pp512 @ d{start}", depth=start + 256, metric="prefill_tps",
                                        predicted=p.prefill_tps, low=p.prefill_tps_low, high=p.prefill_tps_high))
    return out


def main() -> None:
    """Write the predictions file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hardware", required=True, help="catalog id of the machine to be measured")
    ap.add_argument("--out", required=True, help="folder for predictions-<label>.json")
    ap.add_argument("--label", default="v4", help="planner label in the file name (v4: this checkout)")
    ap.add_argument("--cluster", type=int, metavar="N", help="instead: N GPUs of one host (issue 11's split modes)")
    ap.add_argument("--models", nargs="+", metavar="MODEL:QUANT",
                    help="these models (default: LLAMA_BENCH and SERVER, or CLUSTER with --cluster)")
    ap.add_argument("--depths", default="0,4096", help="llama-bench start depths, comma-separated (one GPU)")
    ap.add_argument("--no-server", action="store_true", help="one GPU: llama-bench rows only")
    ap.add_argument("--server-only", action="store_true", help="one GPU: llama-server rows only (of --models)")
    ap.add_argument("--runs", nargs="+", choices=sorted(CLUSTER_RUNS), help="with --cluster: these split modes")
    ap.add_argument("--file", help="the file name inside --out (default predictions-LABEL.json)")
    ap.add_argument("--note", help="what the file is for (kept in it)")
    a = ap.parse_args()
    if a.cluster:
        rows = cluster_rows(a.hardware, a.cluster, a.models, a.runs)
    else:
        depths = tuple(int(x) for x in a.depths.split(","))
        bench = [] if a.server_only else llama_bench_rows(a.hardware, a.models, depths)
        rows = bench + ([] if a.no_server else server_rows(a.hardware, a.models if a.server_only else None))
    doc = {"hardware": a.hardware, "planner": a.label, "git_commit": _commit(), "git_dirty": _dirty(),
           "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "note": a.note or "predictions committed before the campaign measured this machine; the machine is in no fit",
           "rows": rows}
    if a.cluster:
        doc["gpus"] = a.cluster
        a.label = f"{a.label}-{a.cluster}gpu"
    path = Path(a.out) / (a.file or f"predictions-{a.label}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {path} ({len(doc['rows'])} predictions)")


if __name__ == "__main__":
    main()
