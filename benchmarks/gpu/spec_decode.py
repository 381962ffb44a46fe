"""Speculative decoding, measured in tokens (issue 16): tokbench's decode tok/s against llama-server's
own ``predicted_per_second`` when chunks carry several tokens, and the acceptance the server reports.

llama-server is started with the model as its own draft (``--spec-draft-model`` = the model,
``--spec-draft-n-max N``); tokbench sends greedy requests (temperature 0), so every drafted token is
accepted and tokens arrive several at a time. For each N: ``tokbench bench --endpoint`` runs one
single-stream point, and per request tokbench's per-stream decode tok/s (tokens after the first
chunk over the time from the first to the last token, client clock) is set against the server's
``timings.predicted_per_second`` (generated tokens after the first over the same span, server
clock) and its ``draft_n`` / ``draft_n_accepted``. One JSON object per N is appended to
OUT/spec_decode.jsonl as soon as it is measured.

Run on the GPU machine from the repository root (llama-server built as benchmarks/gpu/device_run.sh
builds it):
    python3 benchmarks/gpu/spec_decode.py --llama-bin /tmp/llama.cpp/build/bin --out OUT \\
        [--model llama-3.1-8b:Q4_K_M | --gguf FILE] [--n-max 1,4,8,16] [--depth 512] [--gen-tokens 256] \\
        [--requests 8] [--hardware h200]
The model is synthesized at its real size with tokbench synth (random weights: speed does not
depend on them) unless --gguf names a file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_file(a: argparse.Namespace) -> Path:
    """The GGUF to serve: --gguf, else the catalog model synthesized at real size (once)."""
    if a.gguf:
        return Path(a.gguf)
    from tokbench.modelspec import load_spec
    from tokbench.synth import synthesize

    model, _, quant = a.model.rpartition(":")
    path = Path(a.workdir) / f"{model}-{quant}.gguf"
    if not path.exists():
        t0 = time.perf_counter()
        synthesize(load_spec(model), quant, path, seed=0, vocab="real")
        log(f"synthesized {path.name} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t0:.0f} s")
    return path


def make_peaked(path: Path) -> Path:
    """A copy of an F16 llama GGUF whose greedy next token no longer hangs on rounding noise.

    With random weights the logits are nearly flat, so the draft (one token at a time) and the target
    (a batch of drafted tokens, other kernels) round differently and pick different argmaxes: on the
    2026-11-30 H200 run acceptance was ~1%. Here the final norm keeps only the hidden state's first
    component and the output matrix's first column is zero but for -1 (token 1) and +1 (token 2), so
    the logits are ``0, -x0, +x0, 0, ...``: one clear maximum (token 2 when x0 > 0, token 1 when
    x0 < 0) by a margin of |x0| ~ 1, which both paths agree on unless x0 is within rounding of 0. Work per token is unchanged (same shapes
    and types), so speed is that of the model it came from.
    """
    import shutil

    import numpy as np
    from gguf import GGUFReader

    out = path.with_name(path.stem + "-peaked.gguf")
    if out.exists():
        return out
    shutil.copyfile(path, out)
    r = GGUFReader(out, "r+")
    t = {x.name: x for x in r.tensors}
    norm, head = t["output_norm.weight"], t.get("output.weight") or t["token_embd.weight"]
    if head.tensor_type.name != "F16":
        raise SystemExit(f"--peaked needs an F16 output matrix, {path.name} has {head.tensor_type.name}")
    norm.data[...] = 0.0
    norm.data.reshape(-1)[0] = 1.0
    w = head.data.reshape(-1, norm.data.size)  # rows: vocab entries; columns: hidden dims
    w[:, 0] = 0.0
    w[1, 0], w[2, 0] = -1.0, 1.0  # ordinary tokens in every vocabulary (the ends hold control tokens)
    r.data.flush()
    log(f"peaked copy written: {out.name}")
    return out


def start_server(bin_dir: Path, model: Path, n_max: int, ctx: int, logf: Path) -> tuple[subprocess.Popen, int]:
    """llama-server with the model as its own draft; returns (process, port) once /health answers."""
    port = free_port()
    cmd = [str(bin_dir / "llama-server"), "-m", str(model), "-ngl", "999", "-np", "1", "-c", str(ctx),
           "--host", "127.0.0.1", "--port", str(port), "--no-webui"]
    if n_max > 0:
        # This llama.cpp infers the speculative type from the draft GGUF's metadata and a plain model
        # gives none (the 2026-11-30 H200 run: no draft counters at all): name the type.
        cmd += ["--spec-draft-model", str(model), "--spec-draft-ngl", "999", "--spec-draft-n-max", str(n_max),
                "--spec-type", "draft-simple"]
    proc = subprocess.Popen(cmd, stdout=open(logf, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama-server exited: {logf.read_text()[-800:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise RuntimeError("llama-server did not become healthy in 300 s")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except Exception:  # noqa: BLE001 - whatever happens, the server must go
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def bench(port: int, model: Path, a: argparse.Namespace, db: Path) -> dict:
    """``tokbench bench --endpoint`` on the server: one single-stream point, as JSON."""
    cmd = [sys.executable, "-m", "tokbench", "bench", "--endpoint", f"http://127.0.0.1:{port}/v1",
           "--model", str(model), "--hardware", a.hardware, "--concurrency", "1", "--requests", str(a.requests),
           "--context-depth", str(a.depth), "--gen-tokens", str(a.gen_tokens), "--db", str(db), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(f"tokbench bench exit {r.returncode}: {r.stderr[-800:]}")
    return json.loads(r.stdout)


def per_request(db: Path, run_id: str) -> list[dict]:
    """Client vs server decode tok/s, chunking and drafts of every measured request."""
    from tokbench.metrics import decode_tps, first_chunk
    from tokbench.store import open_store

    with open_store(db) as store:
        recs = [r for r in store.records(run_id) if r.status == "ok"]
    out = []
    for r in recs:
        ours, server = decode_tps(r), (r.native or {}).get("predicted_per_second")
        out.append({"index": r.index, "tokens": len(r.token_times), "events": r.chunks,
                    "reads": len(set(r.token_times)), "first_chunk": first_chunk(r), "token_source": r.token_source,
                    "tokbench_tps": ours, "server_tps": server,
                    "diff_pct": 100 * (ours / server - 1) if ours and server else None,
                    "draft_n": r.native.get("draft_n"), "draft_n_accepted": r.native.get("draft_n_accepted")})
    return out


def measure(n_max: int, model: Path, a: argparse.Namespace, out: Path) -> dict:
    proc, port = start_server(Path(a.llama_bin), model, n_max, a.depth + a.gen_tokens + 256,
                              out / f"llama-server-n{n_max}.log")
    try:
        doc = bench(port, model, a, out / "tokbench.db")
    finally:
        stop(proc)
    row = doc["results"][0]
    reqs = per_request(out / "tokbench.db", doc["run_id"])
    diffs = [r["diff_pct"] for r in reqs if r["diff_pct"] is not None]
    ours = (row.get("decode_tps_per_stream") or {}).get("p50")
    server = (row.get("native_decode_tps") or {}).get("p50")
    return {"n_max": n_max, "model": model.name, "depth": a.depth, "gen_tokens": a.gen_tokens,
            "run_id": doc["run_id"], "tokbench_decode_tps_p50": ours, "server_predicted_per_second_p50": server,
            "diff_pct_of_medians": 100 * (ours / server - 1) if ours and server else None,
            "diff_pct_median_request": statistics.median(diffs) if diffs else None,
            "diff_pct_worst_request": max(diffs, key=abs) if diffs else None,
            # with a draft model, the server's draft counters must show it drafted (else it did not speculate)
            "speculation_active": n_max == 0 or any(r["draft_n"] for r in reqs),
            "speculative": row.get("speculative"), "tokens_per_chunk": row.get("tokens_per_chunk"),
            "tokens_per_arrival": row.get("tokens_per_arrival"),
            "token_sources": row.get("token_sources"), "timing_flags": row.get("timing_flags"),
            "ttft_ms_p50": row["ttft_ms"]["p50"], "itl_ms_p50": row["itl_ms"]["p50"], "tpot_ms_p50": row["tpot_ms"]["p50"],
            "ok": row["ok"], "requests": row["requests"], "identity": doc.get("identity"), "per_request": reqs}


def environment(bin_dir: Path) -> dict:
    env: dict = {"host": socket.gethostname()}
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=30)
        env["nvidia_smi"] = q.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        env["nvidia_smi"] = None
    v = subprocess.run([str(bin_dir / "llama-server"), "--version"], capture_output=True, text=True, timeout=60)
    env["llama_server_version"] = (v.stdout + v.stderr).strip().splitlines()[-2:]
    return env


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--llama-bin", required=True, help="directory holding llama.cpp's llama-server")
    p.add_argument("--out", required=True, help="directory for spec_decode.jsonl, tokbench.db and server logs")
    p.add_argument("--model", default="llama-3.1-8b:Q4_K_M", help="catalog MODEL:QUANT to synthesize")
    p.add_argument("--gguf", help="serve this GGUF instead of synthesizing one")
    p.add_argument("--workdir", default="/tmp/spec-decode", help="where the synthesized model is written")
    p.add_argument("--n-max", default="1,4,8,16", help="--spec-draft-n-max values (0: no draft model)")
    p.add_argument("--peaked", action="store_true", help="serve a copy whose greedy token is unambiguous "
                   "(F16 models; see make_peaked), so drafts are accepted and chunks carry several tokens")
    p.add_argument("--depth", type=int, default=512)
    p.add_argument("--gen-tokens", type=int, default=256)
    p.add_argument("--requests", type=int, default=8)
    p.add_argument("--hardware", default="h200")
    p.add_argument("--timeout", type=float, default=600)
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    Path(a.workdir).mkdir(parents=True, exist_ok=True)
    model = model_file(a)
    if a.peaked:
        model = make_peaked(model)
    env = environment(Path(a.llama_bin))
    for n in [int(x) for x in a.n_max.split(",")]:
        try:
            row = {**measure(n, model, a, out), "environment": env}
        except Exception as exc:  # noqa: BLE001 - one failed setting must not lose the others
            row = {"n_max": n, "error": repr(exc)[:2000]}
        with open(out / "spec_decode.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        if "error" in row:
            log(f"n_max={n}: ERROR {row['error'][:300]}")
            continue
        spec = row["speculative"] or {}
        log(f"n_max={n}: tokbench {row['tokbench_decode_tps_p50']:.1f} tok/s vs server {row['server_predicted_per_second_p50']:.1f} "
            f"({row['diff_pct_of_medians']:+.2f}%; worst request {row['diff_pct_worst_request']:+.2f}%), "
            f"acceptance {spec.get('acceptance')}, tokens per arrival {(row['tokens_per_arrival'] or {}).get('mean')}")


if __name__ == "__main__":
    main()
