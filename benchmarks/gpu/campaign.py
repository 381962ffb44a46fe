"""GPU campaign (issue 8): synthesize the seed's models at real size, measure them with llama-bench
and with `tokbench bench` against llama-server, and record the environment.

Runs on the device machine (see device_run.sh). Each finished measurement is appended at once to
OUT/campaign.jsonl as one JSON object, so a run cut short by a time limit keeps what it finished.
Models over ``--shm-over-gb`` are written to /dev/shm (RAM-backed, faster than the disk there), one
at a time, and deleted after their run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def append_to(out: Path, name: str, row: dict) -> None:
    """Append one JSON line to OUT/name at once (a run cut short keeps every finished measurement)."""
    with open(out / name, "a") as f:
        f.write(json.dumps(row) + "\n")


def append(out: Path, row: dict) -> None:
    append_to(out, "campaign.jsonl", row)


def sh(cmd: list[str], timeout: float | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def environment(llama_bin: Path) -> dict:
    """GPU, driver, CUDA, llama.cpp version and the measured device-to-device copy bandwidth."""
    env: dict = {"host": socket.gethostname()}
    q = sh(["nvidia-smi", "--query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem", "--format=csv,noheader"])
    env["nvidia_smi"] = q.stdout.strip()
    tool = llama_bin / "llama-server" if (llama_bin / "llama-server").exists() else llama_bin / "llama-bench"
    v = sh([str(tool), "--version"])
    env["llama_cpp_version"] = (v.stdout + v.stderr).strip().splitlines()[-2:] if (v.stdout + v.stderr).strip() else None
    try:
        import torch

        env["torch"] = torch.__version__
        env["cuda"] = torch.version.cuda
        n = 2**30  # 4 GiB of float32: far past L2
        a = torch.empty(n, dtype=torch.float32, device="cuda").uniform_()
        b = torch.empty_like(a)
        for _ in range(3):
            b.copy_(a)
        torch.cuda.synchronize()
        times = []
        for _ in range(10):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            b.copy_(a)
            e.record()
            torch.cuda.synchronize()
            times.append(s.elapsed_time(e) / 1e3)
        times.sort()
        env["copy_bandwidth_gbs"] = round(2 * a.numel() * 4 / times[len(times) // 2] / 1e9, 1)  # read + write
        del a, b
        torch.cuda.empty_cache()
    except Exception as exc:  # the campaign still runs without torch
        env["copy_bandwidth_error"] = repr(exc)
    return env


def synth(model: str, quant: str, path: Path) -> dict:
    from tokbench.modelspec import load_spec
    from tokbench.synth import synthesize

    spec = load_spec(model)
    t0 = time.perf_counter()
    synthesize(spec, quant, path, seed=0, vocab="real")
    dt = time.perf_counter() - t0
    size = path.stat().st_size
    return {"file_bytes": size, "synth_s": round(dt, 1), "synth_gbs": round(size / dt / 1e9, 2)}


def llama_bench(bin_dir: Path, path: Path, timeout: float, depths: str = "0,4096") -> list[dict]:
    cmd = [str(bin_dir / "llama-bench"), "-m", str(path), "-ngl", "99", "-p", "512", "-n", "128",
           "-d", depths, "-r", "3", "-o", "jsonl"]
    r = sh(cmd, timeout=timeout)
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    if not rows:
        raise RuntimeError(f"llama-bench gave no rows: {r.stderr[-800:]}")
    return rows


def gpu_mem_used_mib() -> int | None:
    r = sh(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"])
    try:
        return int(r.stdout.strip().splitlines()[0])
    except (ValueError, IndexError):
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(bin_dir: Path, path: Path, port: int, logf: Path) -> subprocess.Popen:
    cmd = [str(bin_dir / "llama-server"), "-m", str(path), "-ngl", "99", "-np", "16", "-kvu", "-c", "20480",
           "--host", "127.0.0.1", "--port", str(port), "--no-webui"]
    proc = subprocess.Popen(cmd, stdout=open(logf, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    import urllib.request

    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama-server exited: {logf.read_text()[-800:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except Exception:
            time.sleep(1)
    raise RuntimeError("llama-server did not become healthy in 300 s")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except Exception:
        os.killpg(proc.pid, signal.SIGKILL)


HARDWARE = "h100-sxm"  # set in main(): --hardware, else the catalog id nvidia-smi's GPU name maps to


def detect_hardware() -> str:
    """Catalog id of this machine's first GPU (tokbench.env's nvidia-smi probe)."""
    from tokbench.env import probe_nvidia

    gpus = probe_nvidia()
    if not gpus or not gpus[0].get("catalog_id"):
        raise SystemExit(f"cannot map this GPU to a catalog id ({gpus}); pass --hardware")
    return gpus[0]["catalog_id"]


def tokbench_bench(port: int, db: Path, model_id: str, args: list[str], timeout: float) -> dict:
    cmd = [sys.executable, "-m", "tokbench.cli.main", "bench", "--endpoint", f"http://127.0.0.1:{port}/v1",
           "--model", model_id, "--hardware", HARDWARE, "--db", str(db), "--json", *args]
    r = sh(cmd, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"tokbench bench exit {r.returncode}: {r.stderr[-800:]}")
    return json.loads(r.stdout)


def run_one(model: str, quant: str, a: argparse.Namespace, out: Path, deadline: float) -> None:
    from tokbench.modelspec import load_spec

    big = load_spec(model).n_params() * 0.6 / 1e9 > a.shm_over_gb  # rough size check before writing
    root = Path("/dev/shm" if big else a.workdir)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{model}-{quant}.gguf"
    base = {"model": model, "quant": quant}
    try:
        log(f"synth {model} {quant} -> {path}")
        info = synth(model, quant, path)
        append(out, {**base, "kind": "synth", **info})
        log(f"  {info}")
        left = deadline - time.time()
        if not a.no_llama_bench:
            rows = llama_bench(Path(a.llama_bin), path, timeout=max(60, min(300, left - 120)), depths=a.depths)
            for row in rows:
                append(out, {**base, "kind": "llama-bench", "row": row})
            log("  llama-bench: " + ", ".join(f"p{r['n_prompt']}n{r['n_gen']}d{r['n_depth']}={r['avg_ts']:.1f}" for r in rows))
        if time.time() > deadline - 90 or a.no_server:
            return
        port = free_port()
        proc = start_server(Path(a.llama_bin), path, port, out / f"server-{model}-{quant}.log")
        try:
            append(out, {**base, "kind": "server-memory", "gpu_mem_used_mib": gpu_mem_used_mib()})
            db = out / "tokbench.db"
            for label, extra in (("depth4096", ["--context-depth", "4096", "--gen-tokens", "128", "--concurrency", "1", "--requests", "3"]),
                                 ("sweep", ["--context-depth", "512", "--gen-tokens", "128", "--concurrency", "1,8,16", "--requests", "16"])):
                if time.time() > deadline - 40:
                    break
                res = tokbench_bench(port, db, str(path), extra, timeout=max(30, deadline - time.time() - 20))
                append(out, {**base, "kind": "tokbench-bench", "label": label, "result": res})
                log(f"  tokbench {label}: " + ", ".join(
                    f"c={p['concurrency']} {p['decode_tps_per_stream']['mean']:.1f} tok/s/stream agg {p['aggregate_output_tps']:.0f}"
                    for p in res["results"]))
        finally:
            stop(proc)
    except Exception as exc:
        append(out, {**base, "kind": "error", "error": repr(exc)[:2000]})
        log(f"  ERROR {exc!r}"[:600])
    finally:
        path.unlink(missing_ok=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("models", nargs="+", help="MODEL:QUANT")
    p.add_argument("--llama-bin", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--workdir", default="/tmp/models")
    p.add_argument("--shm-over-gb", type=float, default=40)
    p.add_argument("--budget-s", type=float, default=540, help="stop starting new work after this")
    p.add_argument("--no-server", action="store_true")
    p.add_argument("--no-llama-bench", action="store_true")
    p.add_argument("--depths", default="0,4096", help="llama-bench's -d: start depths, comma-separated")
    p.add_argument("--hardware", help="catalog id of this machine (default: from nvidia-smi)")
    p.add_argument("--gpu", help="CUDA_VISIBLE_DEVICES for llama-bench and llama-server (one GPU of several)")
    a = p.parse_args()
    global HARDWARE
    HARDWARE = a.hardware or detect_hardware()
    if a.gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = a.gpu  # inherited by every llama.cpp process started below
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    deadline = time.time() + a.budget_s
    if not (out / "env.json").exists():
        env = {**environment(Path(a.llama_bin)), "hardware": HARDWARE, "gpu": a.gpu}
        (out / "env.json").write_text(json.dumps(env, indent=1))
        log(f"env: {env}")
    for item in a.models:
        model, _, quant = item.partition(":")
        if time.time() > deadline - 60:
            log(f"out of time before {item}")
            append(out, {"model": model, "quant": quant, "kind": "skipped", "why": "time budget"})
            continue
        run_one(model, quant, a, out, deadline)
    shutil.rmtree(a.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
