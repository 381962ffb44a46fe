"""How many concurrent streams can one client core drive without distorting timings?

Method (issue 7): benchmarks/stream_server.py pinned to core 0 (TTFT 20 ms, then 100 tokens 10 ms
apart on an absolute schedule); the client pinned to core 1; at each concurrency, every stream
sends 2 requests back to back. Recorded per point: TTFT p50, ITL p50, aggregate tok/s and the
client's CPU share. "Clean capacity" = the highest concurrency with ITL p50 within 5% of 10 ms and
aggregate tok/s >= 95% of concurrency x 100. tokbench and `vllm bench serve` (from
/work/vllm-venv) are measured side by side against the same server in the same run.

Run: python benchmarks/client_capacity.py [--levels 1,2,...] [--out benchmarks/results/client_capacity.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LEVELS = (1, 8, 32, 64, 128, 192, 256, 320, 384, 448, 512, 640, 768, 1024)
VLLM = Path(os.environ.get("VLLM_VENV", "/work/vllm-venv")) / "bin" / "vllm"
TTFT_MS, GAP_MS, TOKENS = 20.0, 10.0, 100


def clean(row: dict, c: int) -> bool:
    """The issue's definition of a clean point."""
    itl, agg = row.get("itl_p50_ms"), row.get("aggregate_tps")
    return itl is not None and agg is not None and abs(itl - GAP_MS) <= 0.05 * GAP_MS and agg >= 0.95 * c * 1000 / GAP_MS


# ---- tokbench client (run in a child pinned to the client core) -------------------------------
async def _tokbench_point(port: int, c: int) -> dict:
    from tokbench.engines.openai_http import OpenAIEngine
    from tokbench.loadgen.scheduler import Point, Scheduler
    from tokbench.metrics import summarize_point

    eng = OpenAIEngine(f"http://127.0.0.1:{port}/v1", model="fake", exact_prompts=False)
    await eng.start()
    try:
        res = await Scheduler(eng).run_point(Point(concurrency=c, context_depth=16, gen_tokens=TOKENS,
                                                   requests=2 * c, warmup=0))
    finally:
        await eng.stop()
    row = summarize_point(res.records)
    return {"ttft_p50_ms": row["ttft_ms"]["p50"], "itl_p50_ms": row["itl_ms"]["p50"],
            "aggregate_tps": row["aggregate_output_tps"], "ok": row["ok"], "requests": row["requests"],
            "client_cpu_share": res.client_cpu_s / res.wall_s, "loop_lag_p99_ms": res.lag.p99_ms}


def tokbench_client(port: int, c: int, use_uvloop: bool) -> dict:
    """Run one point in a child process pinned to core 1; returns its summary."""
    cmd = ["taskset", "-c", "1", sys.executable, str(Path(__file__)), "--child", str(port), str(c)]
    if use_uvloop:
        cmd.append("--uvloop")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


# ---- vllm bench serve ----------------------------------------------------------------------------
def make_tokenizer(d: Path) -> Path:
    """A small local word-level tokenizer (vllm bench needs one; there is no download here)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    d.mkdir(parents=True, exist_ok=True)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"w{i}": i + 3 for i in range(4000)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.save(str(d / "tokenizer.json"))
    (d / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast",
                                                         "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                                                         "model_max_length": 1 << 20}))
    (d / "config.json").write_text(json.dumps({"model_type": "llama", "vocab_size": len(vocab)}))
    return d


def vllm_client(port: int, c: int, tok: Path) -> dict:
    """One `vllm bench serve` point pinned to core 1; CPU share from its child-process rusage."""
    if not VLLM.exists():
        return {"error": f"{VLLM} not installed"}
    with tempfile.TemporaryDirectory() as td:
        cmd = ["taskset", "-c", "1", str(VLLM), "bench", "serve", "--backend", "openai",
               "--base-url", f"http://127.0.0.1:{port}", "--endpoint", "/v1/completions", "--model", "fake",
               "--tokenizer", str(tok), "--dataset-name", "random", "--random-input-len", "16",
               "--random-output-len", str(TOKENS), "--num-prompts", str(2 * c), "--max-concurrency", str(c),
               "--request-rate", "inf", "--ignore-eos", "--save-result", "--result-dir", td,
               "--result-filename", "r.json", "--disable-tqdm"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                             env={**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_TARGET_DEVICE": "cpu"})
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        f = Path(td) / "r.json"
        if out.returncode != 0 or not f.exists():
            tail = (out.stderr or out.stdout).strip().splitlines()
            return {"error": tail[-1][:200] if tail else f"exit {out.returncode}"}
        r = json.loads(f.read_text())
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"ttft_p50_ms": r.get("median_ttft_ms"), "itl_p50_ms": r.get("median_itl_ms"),
            "aggregate_tps": r.get("output_throughput"), "ok": r.get("completed"), "requests": 2 * c,
            "client_cpu_s_total": cpu, "duration_s": r.get("duration")}


# ---- driver ----------------------------------------------------------------------------------------
def start_server(port: int) -> subprocess.Popen:
    """The scripted server, pinned to core 0."""
    proc = subprocess.Popen(["taskset", "-c", "0", sys.executable, str(HERE / "stream_server.py"), str(port),
                             "--ttft-ms", str(TTFT_MS), "--gap-ms", str(GAP_MS), "--tokens", str(TOKENS)])
    time.sleep(1.0)
    return proc


def table(name: str, rows: list[tuple[int, dict]]) -> tuple[str, int]:
    """Markdown rows for one client and its clean capacity."""
    lines, cap = [], 0
    for c, r in rows:
        if "error" in r:
            lines.append(f"| {name} | {c} | error: {r['error']} | | | | |")
            continue
        ok = clean(r, c)
        cap = c if ok and c > cap else cap
        cpu = r.get("client_cpu_share")
        cpu_s = f"{cpu * 100:.0f}%" if cpu is not None else f"{r.get('client_cpu_s_total', 0):.1f} s total"
        lines.append(f"| {name} | {c} | {r['ttft_p50_ms']:.1f} | {r['itl_p50_ms']:.2f} | {r['aggregate_tps']:,.0f} | "
                     f"{cpu_s} | {'yes' if ok else 'no'} |")
    return "\n".join(lines), cap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    ap.add_argument("--uvloop", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--levels", default=",".join(map(str, LEVELS)))
    ap.add_argument("--clients", default="tokbench,tokbench-asyncio,vllm")
    ap.add_argument("--out", default=str(HERE / "results" / "client_capacity.md"))
    a = ap.parse_args()
    if a.child:
        if a.uvloop:
            import uvloop

            uvloop.install()
        print(json.dumps(asyncio.run(_tokbench_point(*a.child))))
        return
    from tokbench.engines.servers import free_port

    levels = [int(x) for x in a.levels.split(",")]
    port = free_port()
    server = start_server(port)
    results: dict[str, list] = {}
    try:
        tok = make_tokenizer(Path(tempfile.mkdtemp()) / "tok")
        for client in a.clients.split(","):
            rows = []
            for c in levels:
                # "tokbench" runs as `tokbench bench` does (uvloop when installed); "tokbench-asyncio"
                # forces the standard event loop.
                r = tokbench_client(port, c, _has_uvloop()) if client == "tokbench" else \
                    tokbench_client(port, c, False) if client == "tokbench-asyncio" else vllm_client(port, c, tok)
                print(client, c, r, flush=True)
                rows.append((c, r))
            results[client] = rows
    finally:
        server.terminate()
        server.wait(5)
    write(a.out, results)


def write(path: str, results: dict) -> None:
    """Commit-ready Markdown with the machine named."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    out = [f"# Client capacity ({time.strftime('%Y-%m-%d')})", "",
           f"Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}.",
           "Server: benchmarks/stream_server.py on core 0 (TTFT 20 ms, 100 tokens 10 ms apart, absolute schedule);",
           "client on core 1; 2 requests per stream per point. Clean = ITL p50 within 5% of 10 ms and",
           "aggregate >= 95% of concurrency x 100 tok/s. Produced by benchmarks/client_capacity.py.", "",
           "| client | concurrency | TTFT p50 ms | ITL p50 ms | aggregate tok/s | client CPU | clean |",
           "|---|---:|---:|---:|---:|---:|---|"]
    caps = {}
    for name, rows in results.items():
        text, caps[name] = table(name, rows)
        out.append(text)
    out += ["", "Clean capacity: " + ", ".join(f"{k} {v} streams" for k, v in caps.items()), ""]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
