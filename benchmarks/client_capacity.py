"""How many concurrent streams can one client core drive without distorting timings, through the
command users run (``tokbench bench``), beside ``vllm bench serve`` in the same run?

Method (issue 16): a scripted server pinned to core 0 (TTFT 20 ms, then 100 tokens 10 ms apart on
an absolute schedule; it reports what it actually did on GET /stats): benchmarks/stream_server.c,
built here with ``cc -O2`` (``--server python``: benchmarks/stream_server.py, which at 448 streams
takes ~90% of its core and runs late when the VM is noisy); each client pinned to
core 1; at each concurrency every stream sends 2 requests back to back (depth 16). tokbench runs as
``tokbench bench --endpoint ... --concurrency C --requests 2C --context-depth 16 --gen-tokens 100
--json`` (the whole command is timed, start-up and prompt preparation included); ``vllm bench
serve`` with the equivalent random dataset. A point is *clean* when ITL p50 is within 5% of the
server's chunk gap p50, TTFT p50 within 10 ms of the server's TTFT p50, and aggregate tok/s at least
90% of concurrency x 100 (the issue's bar); for tokbench the whole command must also take at most
the measured window + 20 s. Each point is repeated; the medians of the repetitions are reported,
with the machine's load average (``uptime``) before each.

Run: python benchmarks/client_capacity.py [--levels 1,64,...] [--reps 3] [--clients tokbench,vllm]
     [--server c|python] [--out benchmarks/results/client_capacity.md]
     (VLLM_VENV: a venv with `vllm bench serve`)
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
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LEVELS = (1, 64, 128, 224, 256, 320, 384, 448, 512)
VLLM = Path(os.environ.get("VLLM_VENV", "/work/vllm-venv")) / "bin" / "vllm"
TTFT_MS, GAP_MS, TOKENS = 20.0, 10.0, 100


def loadavg() -> float:
    """The 1-minute load average (what `uptime` shows first)."""
    return os.getloadavg()[0]


def server_stats(port: int) -> dict:
    """The stream server's own view of the streams since the last call (and reset)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as r:
        return json.loads(r.read())


def clean(row: dict, c: int) -> bool:
    """The issue's definition of a clean point (against what the server did, not what it was told)."""
    itl, ttft, agg = row.get("itl_p50_ms"), row.get("ttft_p50_ms"), row.get("aggregate_tps")
    gap, sttft = row.get("server_gap_p50_ms") or GAP_MS, row.get("server_ttft_p50_ms") or TTFT_MS
    ok = (itl is not None and ttft is not None and agg is not None and abs(itl - gap) <= 0.05 * gap
          and ttft - sttft <= 10.0 and agg >= 0.90 * c * 1000 / GAP_MS)
    if "command_s" in row and row.get("window_s") is not None:
        ok = ok and row["command_s"] <= row["window_s"] + 20.0
    return ok


# ---- tokbench: the command ---------------------------------------------------------------------------
def tokbench_client(port: int, c: int) -> dict:
    """One ``tokbench bench`` command pinned to core 1; its JSON document and point metadata."""
    with tempfile.TemporaryDirectory() as td:
        db = Path(td) / "cap.db"
        cmd = ["taskset", "-c", "1", sys.executable, "-m", "tokbench", "bench", "--endpoint",
               f"http://127.0.0.1:{port}/v1", "--model", "fake", "--concurrency", str(c), "--requests", str(2 * c),
               "--context-depth", "16", "--gen-tokens", str(TOKENS), "--json", "--db", str(db)]
        t0 = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
        command_s = time.monotonic() - t0
        if out.returncode != 0:
            return {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1][:200]}
        doc = json.loads(out.stdout)
        from tokbench.store import open_store

        with open_store(db) as store:
            meta = next(iter(store.point_meta(doc["run_id"]).values()))
    row = doc["results"][0]
    lag = meta.get("loop_lag") or {}
    return {"ttft_p50_ms": row["ttft_ms"]["p50"], "itl_p50_ms": row["itl_ms"]["p50"],
            "aggregate_tps": row["aggregate_output_tps"], "ok": row["ok"], "requests": row["requests"],
            "window_s": row["duration_s"], "command_s": command_s, "prepare_s": meta.get("prepare_s"),
            "client_cpu_share": meta.get("client_cpu_share"), "loop_lag_p99_ms": lag.get("p99_ms")}


# ---- vllm bench serve --------------------------------------------------------------------------------
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
    """One `vllm bench serve` point pinned to core 1; CPU from its child-process rusage."""
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
        t0 = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                             env={**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_TARGET_DEVICE": "cpu"})
        command_s = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        f = Path(td) / "r.json"
        if out.returncode != 0 or not f.exists():
            tail = (out.stderr or out.stdout).strip().splitlines()
            return {"error": tail[-1][:200] if tail else f"exit {out.returncode}"}
        r = json.loads(f.read_text())
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"ttft_p50_ms": r.get("median_ttft_ms"), "itl_p50_ms": r.get("median_itl_ms"),
            "aggregate_tps": r.get("output_throughput"), "ok": r.get("completed"), "requests": 2 * c,
            "client_cpu_s_total": cpu, "vllm_window_s": r.get("duration"), "vllm_command_s": command_s}


# ---- driver --------------------------------------------------------------------------------------------
def build_c_server() -> Path:
    """benchmarks/stream_server.c compiled (once per source version) into a build folder."""
    src = HERE / "stream_server.c"
    out = ROOT / "build" / f"stream_server-{int(src.stat().st_mtime)}"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cc", "-O2", "-o", str(out), str(src)], check=True)
    return out


def start_server(port: int, kind: str = "c") -> subprocess.Popen:
    """The scripted server, pinned to core 0."""
    args = ["--ttft-ms", str(TTFT_MS), "--gap-ms", str(GAP_MS), "--tokens", str(TOKENS)]
    prog = [str(build_c_server())] if kind == "c" else [sys.executable, str(HERE / "stream_server.py")]
    proc = subprocess.Popen(["taskset", "-c", "0", *prog, str(port), *args])
    time.sleep(1.0)
    return proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one(client: str, port: int, c: int, tok: Path, server_pid: int) -> dict:
    """One measurement of one client at one level, with the server's view and the load beside it."""
    load = loadavg()
    server_stats(port)  # reset
    cpu0 = cpu_seconds(server_pid)
    r = tokbench_client(port, c) if client == "tokbench" else vllm_client(port, c, tok)
    server_cpu = cpu_seconds(server_pid) - cpu0
    s = server_stats(port)
    window = r.get("window_s") or r.get("vllm_window_s")
    r.update(load=load, server_ttft_p50_ms=s["ttft_ms_p50"], server_gap_p50_ms=s["gap_ms_p50"],
             server_late_p99_ms=s["late_ms_p99"], server_cpu_s=server_cpu,
             server_cpu_share=server_cpu / window if window else None)  # an upper bound: the whole command's
    return r


def median_row(reps: list[dict]) -> dict:
    """Median of each numeric field over the repetitions that ran (errors kept when all failed)."""
    good = [r for r in reps if "error" not in r]
    if not good:
        return reps[0]
    keys = {k for r in good for k, v in r.items() if isinstance(v, (int, float))}
    out = {k: statistics.median([r[k] for r in good if r.get(k) is not None]) for k in keys
           if any(r.get(k) is not None for r in good)}
    out["reps"] = len(good)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default=",".join(map(str, LEVELS)))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--clients", default="tokbench,vllm")
    ap.add_argument("--vllm-levels", default="64,224,448", help="levels for vllm bench serve (its start-up takes "
                                                               "~100 s on the 2-core VM: fewer points)")
    ap.add_argument("--vllm-reps", type=int, default=1)
    ap.add_argument("--server", choices=("c", "python"), default="c")
    ap.add_argument("--out", default=str(HERE / "results" / "client_capacity.md"))
    a = ap.parse_args()
    from tokbench.engines.servers import free_port

    levels = [int(x) for x in a.levels.split(",")]
    port = free_port()
    server = start_server(port, a.server)
    results: dict[str, list] = {}
    loads = [loadavg()]
    try:
        tok = make_tokenizer(Path(tempfile.mkdtemp()) / "tok")
        for client in a.clients.split(","):
            rows = []
            vllm = client == "vllm"
            for c in [int(x) for x in a.vllm_levels.split(",")] if vllm else levels:
                reps = []
                for _ in range(a.vllm_reps if vllm else a.reps):  # consecutive: one client at a time
                    reps.append(one(client, port, c, tok, server.pid))
                    print(client, c, reps[-1], flush=True)
                rows.append((c, median_row(reps)))
                loads.append(loadavg())
            results[client] = rows
    finally:
        server.terminate()
        server.wait(5)
    write(a.out, results, f"{a.reps} (vllm {a.vllm_reps})", loads, a.server)


def _fmt(v, nd: int = 1) -> str:
    return "-" if v is None else f"{v:,.{nd}f}"


def table(name: str, rows: list[tuple[int, dict]]) -> tuple[str, int]:
    """Markdown rows for one client and its clean capacity."""
    lines, cap = [], 0
    for c, r in rows:
        if "error" in r:
            lines.append(f"| {name} | {c} | error: {r['error']} |" + " |" * 10)
            continue
        ok = clean(r, c)
        cap = c if ok and c > cap else cap
        share = r.get("client_cpu_share")
        cpu = f"{share * 100:.0f}%" if share is not None else f"{r.get('client_cpu_s_total', 0):.1f} s total"
        ideal = 100 * r["aggregate_tps"] / (c * 1000 / GAP_MS) if r.get("aggregate_tps") else None
        cmd = (f"{r['command_s']:.1f} / {r['window_s']:.1f}" if r.get("command_s") and r.get("window_s")
               else f"{r.get('vllm_command_s', 0):.1f} / {r.get('vllm_window_s') or 0:.1f}")
        lines.append(f"| {name} | {c} | {_fmt(r['ttft_p50_ms'])} ({_fmt(r.get('server_ttft_p50_ms'))}) | "
                     f"{_fmt(r['itl_p50_ms'], 2)} ({_fmt(r.get('server_gap_p50_ms'), 2)}) | {_fmt(r['aggregate_tps'], 0)} "
                     f"({_fmt(ideal, 0)}%) | {cmd} | {cpu} | {_fmt(r.get('server_late_p99_ms'))} | "
                     f"{_fmt(r.get('load'), 2)} | {r.get('reps', 1)} | "
                     f"{'yes' if ok else 'no'} |")
    return "\n".join(lines), cap


def write(path: str, results: dict, reps: str, loads: list[float], server: str = "c") -> None:
    """Commit-ready Markdown with the machine named and its load stated."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    out = [f"# Client capacity through the command ({time.strftime('%Y-%m-%d')})", "",
           f"Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()};",
           f"load average (1 min) {min(loads):.2f}-{max(loads):.2f} during the run (shared machine).",
           f"Server: benchmarks/stream_server.{'c (cc -O2)' if server == 'c' else 'py'} on core 0 (TTFT 20 ms, 100 "
           "tokens 10 ms apart, absolute schedule; 'server late' is the p99 lateness of its writes against that schedule);",
           "each client on core 1; 2 requests per stream per point, depth 16. tokbench is the `tokbench bench`",
           f"command (whole command timed); medians of {reps} repetitions per point. Clean = ITL p50 within 5%",
           "of the server's per-token gap as written (median over streams of (last - first write) / 99), TTFT p50",
           "within 10 ms of the server's TTFT p50 (request read to first write), aggregate >= 90% of",
           "concurrency x 100 tok/s, and (tokbench) command <= measured window + 20 s. vllm bench serve's ITL is",
           "per SSE event (its own definition), its window its own `duration`.",
           "Produced by benchmarks/client_capacity.py.", "",
           "| client | concurrency | TTFT p50 ms (server's) | ITL p50 ms (server's gap) | aggregate tok/s (% ideal) "
           "| command / window s | client CPU | server late p99 ms | load | reps | clean |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
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
