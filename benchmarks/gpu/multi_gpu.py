"""Two GPUs of one host (issue 11): llama.cpp's layer split, tensor split and RPC, measured with llama-bench.

For each MODEL:QUANT the model is written once by `tokbench synth` (models over --shm-over-gb go to
/dev/shm, which this script enlarges to fit them), then llama-bench measures it:

- ``sm-layer``: ``-sm layer`` over both GPUs (each GPU a contiguous range of layers);
- ``sm-tensor``: ``-sm tensor`` (llama.cpp's tensor parallelism: every matrix, expert stack and the KV
  cache split over both GPUs, two all-reduces per layer);
- ``sm-row``: ``-sm row`` (deprecated: matrices split by rows, routed experts on the main GPU; CUDA
  builds without split buffers refuse it, so it is no longer run by default);
- ``rpc``: GPU 0 local plus an ``rpc-server`` process on GPU 1, reached over loopback TCP (llama.cpp's
  way to cluster machines, here between two processes of one host).

Each finished measurement is appended to OUT/multi_gpu.jsonl at once (a run cut short keeps what it
finished); a mode that fails (out of memory, unsupported) is recorded with its error.

Usage (repository root, on the GPU machine):
  python3 benchmarks/gpu/multi_gpu.py --llama-bin /tmp/llama.cpp/build/bin --out OUT MODEL:QUANT ... [--modes ...]
(the models before --modes, which takes a list)
Modes run in the order given: put the slowest (rpc: half the weights cross loopback at < 0.5 GB/s) last,
so that a time budget that runs out skips it rather than the others.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from campaign import append_to, free_port, log, synth  # noqa: E402  (the campaign's writer, port and synth step)


MODES = ("sm-layer", "sm-tensor", "rpc")


def llama_bench_args(mode: str, port: int | None = None) -> list[str]:
    """llama-bench's arguments for one mode (beyond the model and the tests)."""
    if mode == "rpc":
        return ["-rpc", f"127.0.0.1:{port}"]
    return ["-sm", mode.split("-", 1)[1]]


def bench(bin_dir: Path, path: Path, extra: list[str], env: dict, timeout: float) -> list[dict]:
    cmd = [str(bin_dir / "llama-bench"), "-m", str(path), "-ngl", "99", "-p", "512", "-n", "128",
           "-d", "0,4096", "-r", "2", "-o", "jsonl", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    if not rows:
        raise RuntimeError(f"llama-bench gave no rows (exit {r.returncode}): {r.stderr[-1200:]}")
    return rows


def rpc_server(bin_dir: Path, port: int, logf: Path) -> subprocess.Popen:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "1"}
    proc = subprocess.Popen([str(bin_dir / "rpc-server"), "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=open(logf, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rpc-server exited: {logf.read_text()[-800:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.5)
    raise RuntimeError("rpc-server did not listen within 60 s")


def run_model(model: str, quant: str, a: argparse.Namespace, out: Path, deadline: float) -> None:
    from tokbench.modelspec import load_spec

    big = load_spec(model).n_params() * 0.6 / 1e9 > a.shm_over_gb
    root = Path("/dev/shm" if big else a.workdir)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{model}-{quant}.gguf"
    base = {"model": model, "quant": quant}
    bin_dir = Path(a.llama_bin)
    try:
        if not path.exists():
            log(f"synth {model} {quant} -> {path}")
            append_to(out, "multi_gpu.jsonl", {**base, "kind": "synth", **synth(model, quant, path)})
        both = {**os.environ, "CUDA_VISIBLE_DEVICES": "0,1"}
        for mode in a.modes:
            left = deadline - time.time()
            if left < 90:
                append_to(out, "multi_gpu.jsonl", {**base, "kind": "skipped", "mode": mode, "why": "time budget"})
                continue
            t0 = time.time()
            proc = None
            try:
                if mode == "rpc":
                    port = free_port()
                    proc = rpc_server(bin_dir, port, out / f"rpc-{model}-{quant}.log")
                    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0"}
                    rows = bench(bin_dir, path, llama_bench_args(mode, port), env, left - 30)
                else:
                    rows = bench(bin_dir, path, llama_bench_args(mode), both, left - 30)
                for row in rows:
                    append_to(out, "multi_gpu.jsonl", {**base, "kind": "llama-bench", "mode": mode, "row": row})
                log(f"  {mode}: " + ", ".join(f"p{r['n_prompt']}n{r['n_gen']}d{r['n_depth']}={r['avg_ts']:.1f}"
                                              for r in rows) + f" ({time.time() - t0:.0f} s)")
            except Exception as exc:  # an infeasible mode (OOM, unsupported) is a result too
                append_to(out, "multi_gpu.jsonl", {**base, "kind": "error", "mode": mode, "error": repr(exc)[:2000]})
                log(f"  {mode}: ERROR {exc!r}"[:400])
            finally:
                if proc is not None:
                    os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if not a.keep:
            path.unlink(missing_ok=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("models", nargs="+", help="MODEL:QUANT")
    p.add_argument("--llama-bin", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--workdir", default="/tmp/models-multi")
    p.add_argument("--shm-over-gb", type=float, default=40)
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES) + ["sm-row"])
    p.add_argument("--budget-s", type=float, default=540)
    p.add_argument("--keep", action="store_true", help="keep the model files (for a later call)")
    p.add_argument("--shm-gb", type=float, default=236, help="enlarge /dev/shm to this size first (0: leave it)")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    # /dev/shm is a tmpfs of half the RAM by default; a 212 GB model needs more (the machine has 256 GiB).
    if a.shm_gb:
        subprocess.run(["mount", "-o", f"remount,size={a.shm_gb:g}G", "/dev/shm"], capture_output=True)
    deadline = time.time() + a.budget_s
    for item in a.models:
        model, _, quant = item.partition(":")
        run_model(model, quant, a, out, deadline)


if __name__ == "__main__":
    main()
