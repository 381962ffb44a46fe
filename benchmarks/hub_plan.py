"""How many bytes and seconds ``tokbench plan REPO_ID`` costs for a 200 GB GGUF repo, on loopback.

The repo is laid out like unsloth's: ``Q4_K_M/<name>-Q4_K_M-0000i-of-0000N.gguf`` split files of at
most 50 GB (gguf-split's layout: the first split holds every key/value pair, the tokenizer included;
the others only ``split.*``), a second quant, and an mmproj file. The headers are real: tokbench's
synth writes the full-size Qwen3.5-397B-A17B at Q4_K_M with a 248,320-token vocabulary (a 7 MB
key/value section); the tensor data behind them is zeros that are never requested. The server is
tests/modelspec/tb_fake_hub.py on 127.0.0.1 (HF_ENDPOINT), which counts every byte it sends.

Each run is a fresh process with an empty HF_HOME (cold: nothing cached) or the previous run's
(warm: the parsed headers are cached, only the listing is requested); the same plan from the catalog
is timed beside them. Results:
benchmarks/results/hub_plan.json and .md. Run: .venv/bin/python benchmarks/hub_plan.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "modelspec"))

from tb_fake_hub import FakeHub, Repo, Sparse  # noqa: E402

MODEL = "qwen3.5-397b-a17b"
REPO = "bench/Qwen3.5-397B-A17B-GGUF"
SPLIT_BYTES = 50 * 10**9


def split_files(kv, entries, prefix: str) -> dict[str, Sparse]:
    """gguf-split's layout for ``entries``: the first split gets every KV pair, all get split.*."""
    from tokbench.synth.gguf import data_bytes, header_bytes

    groups, size = [[]], 0
    for t in entries:
        if groups[-1] and size + t.nbytes > SPLIT_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(t)
        size += t.nbytes
    n, total = len(groups), len(entries)
    out = {}
    for i, group in enumerate(groups):
        split_kv = [("split.no", "u16", i), ("split.count", "u16", n), ("split.tensors.count", "i32", total)]
        head = header_bytes((kv if i == 0 else []) + split_kv, group)
        out[f"{prefix}-{i + 1:05d}-of-{n:05d}.gguf"] = Sparse(head, len(head) + data_bytes(group))
    return out


def build_repo() -> tuple[Repo, dict]:
    """The repo and facts about it (sizes, header bytes)."""
    from tokbench.modelspec import load_spec
    from tokbench.quant.presets import get_preset
    from tokbench.synth import prepare
    from tokbench.synth.writer import gguf_metadata, tensor_entries

    spec = prepare(load_spec(MODEL), vocab="real")
    files: dict[str, object] = {}
    for quant in ("Q4_K_M", "Q8_0"):
        preset = get_preset(quant)
        kv = gguf_metadata(spec, preset)
        name = f"{quant}/Qwen3.5-397B-A17B-{quant}"
        files.update(split_files(kv, tensor_entries(spec, preset), name))
    files["mmproj-F16.gguf"] = Sparse(b"GGUF", 900_000_000)
    files["README.md"] = b"# benchmark repo\n"
    q4 = {k: v for k, v in files.items() if k.startswith("Q4_K_M/")}
    facts = {"files": len(files), "q4_files": len(q4), "q4_bytes": sum(f.size for f in q4.values()),
             "q4_header_bytes": [len(f.head) for f in q4.values()], "vocab": spec.vocab}
    return Repo(files), facts


def run_plan(hub: FakeHub, home: str) -> dict:
    env = dict(os.environ, HF_ENDPOINT=hub.url, HF_HOME=home, HF_TOKEN="hf_benchmark_not_a_secret")
    env.pop("HF_HUB_OFFLINE", None)
    n0 = len(hub.log)
    t0 = time.perf_counter()
    r = subprocess.run([str(ROOT / ".venv" / "bin" / "tokbench"), "plan", REPO, "--quant", "Q4_K_M", "--hardware",
                        "m3-ultra-80c:512", "--context", "128k", "--json"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(f"plan failed: {r.stderr.strip()}")
    hits = hub.log[n0:]
    doc = json.loads(r.stdout)
    return {"wall_s": round(wall, 3), "bytes": sum(h.sent for h in hits), "requests": len(hits),
            "range_requests": sum(1 for h in hits if h.range), "weights_bytes": doc["rows"][0]["weights_bytes"],
            "fetched_reported": doc["sources"][0]["hub"]["fetched_bytes"]}


def run_catalog_plan() -> float:
    """Wall time of the same plan from the catalog (no Hub): the floor the Hub plan adds to."""
    t0 = time.perf_counter()
    subprocess.run([str(ROOT / ".venv" / "bin" / "tokbench"), "plan", MODEL, "--quant", "Q4_K_M", "--hardware",
                    "m3-ultra-80c:512", "--context", "128k", "--json"], check=True, capture_output=True)
    return round(time.perf_counter() - t0, 3)


def write_md(doc: dict, path: Path) -> None:
    m, r = doc["median"], doc["repo"]
    lines = [
        "# tokbench plan REPO_ID: bytes and seconds for a 200 GB GGUF repo",
        "",
        f"Repo: {REPO} on a loopback fake Hub (`tests/modelspec/tb_fake_hub.py`, HF_ENDPOINT), "
        f"{r['files']} files; the Q4_K_M quant is {r['q4_files']} split files, {r['q4_bytes'] / 1e9:,.1f} GB, "
        f"first split's header {r['q4_header_bytes'][0] / 1e6:.2f} MB ({r['vocab']:,}-token vocabulary).",
        f"Command: `tokbench plan {REPO} --quant Q4_K_M --hardware m3-ultra-80c:512 --context 128k --json`,"
        " a fresh process each run. Cold: empty HF_HOME. Warm: the cold run's HF_HOME (parsed headers cached).",
        "",
        "| | median wall s | median bytes from the Hub | requests |",
        "|---|---|---|---|",
        f"| cold | {m['cold_wall_s']} | {m['cold_bytes']:,} | {m['cold_requests']} |",
        f"| warm | {m['warm_wall_s']} | {m['warm_bytes']:,} | {m['warm_requests']} |",
        f"| same plan from the catalog (no Hub) | {m['catalog_wall_s']} | 0 | 0 |",
        "",
        f"Targets (issue 12): under 2 MB and under 2 s. Machine: {doc['machine']['cpus']} CPUs, load average "
        f"{doc['machine']['load_before'][0]:.1f} before the runs; Python {doc['python']}. "
        f"Runs: {doc['runs']} cold + {doc['runs']} warm; every run in hub_plan.json.",
        "",
        "Cold requests include huggingface_hub's once-a-day agent-registry fetch (`/api/agent-harnesses`) and "
        "the listing (`/api/models/REPO/revision/main?blobs=true`); warm: the listing only (it pins the commit).",
        "",
        "Reproduce: `.venv/bin/python benchmarks/hub_plan.py --runs 5`.",
    ]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "hub_plan.json"))
    args = ap.parse_args()
    repo, facts = build_repo()
    cold, warm = [], []
    with FakeHub({REPO: repo}) as hub:
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as home:
                cold.append(run_plan(hub, home))
                warm.append(run_plan(hub, home))
        catalog_walls = [run_catalog_plan() for _ in range(args.runs)]
    med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
    doc = {
        "what": "tokbench plan bench/Qwen3.5-397B-A17B-GGUF --quant Q4_K_M on a loopback fake Hub (HF_ENDPOINT)",
        "repo": facts, "runs": args.runs, "cold": cold, "warm": warm,
        "median": {"cold_wall_s": med(cold, "wall_s"), "cold_bytes": med(cold, "bytes"),
                   "cold_requests": med(cold, "requests"), "warm_wall_s": med(warm, "wall_s"),
                   "warm_bytes": med(warm, "bytes"), "warm_requests": med(warm, "requests"),
                   "catalog_wall_s": statistics.median(catalog_walls)},
        "machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()},
        "python": sys.version.split()[0],
    }
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    write_md(doc, Path(args.out).with_suffix(".md"))
    print(json.dumps(doc["median"], indent=1), f"load {os.getloadavg()}")


if __name__ == "__main__":
    main()
