"""Record real output files of other benchmark tools for tokbench's importer tests
(tests/store/fixtures/real/): GuideLLM, ``vllm bench serve`` and llama-bench, each run here for real.

The servers are llama-cpp-python's (``python -m llama_cpp.server``) on a loopback port, serving a tiny
synthetic GGUF written by ``tokbench synth``; prompts are counted with a small local word-level
tokenizer (the tools want a Hugging Face tokenizer and nothing can be downloaded here). The tools are
heavy (GuideLLM and vLLM pull torch), so they live in their own virtual environments, given by path;
a tool whose path is missing is skipped and said so.

Run:  python benchmarks/record_import_fixtures.py [--guidellm VENV] [--vllm VENV] [--llama-bench BIN]
      [--out tests/store/fixtures/real]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_model(d: Path) -> Path:
    """A 2-layer llama GGUF (Q8_0, vocab 512) written by tokbench synth."""
    from tokbench.modelspec.model import ModelSpec
    from tokbench.synth import synthesize

    spec = ModelSpec(name="tiny-rec", arch="llama", n_layers=2, hidden=64, n_heads=4, n_kv_heads=2, head_dim=16,
                     vocab=512, intermediate=128, context_length=4096, source="record_import_fixtures")
    path = d / "tiny.gguf"
    return path if path.exists() else synthesize(spec, "Q8_0", path, vocab=512)


def start_server(model: Path, port: int) -> subprocess.Popen:
    """llama-cpp-python's server on 127.0.0.1:port; returns once it answers /v1/models."""
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", "2048", "--n_threads", "1", "--model_alias", "tiny"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("llama_cpp.server did not start")


def run(cmd: list[str], **kw) -> None:
    """Run one tool, printing the exact command (it goes into the fixtures' README)."""
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, **kw)


def guidellm(venv: Path, port: int, tok: Path, out: Path) -> None:
    """GuideLLM: a synchronous and a 2-stream concurrent benchmark of 4 requests each."""
    for profile, name in (("kind=synchronous", "guidellm_sync.json"), ("kind=concurrent,streams=2", "guidellm_c2.json")):
        run([str(venv / "bin" / "guidellm"), "run", "--backend", f"kind=openai_http,target=http://127.0.0.1:{port},validate_backend=false",
             "--profile", profile, "--constraint", "kind=max_requests,count=4",
             "--data", "kind=synthetic_text,prompt_tokens=32,output_tokens=8",
             "--tokenizer", f"kind=huggingface_auto,model={tok}", "--output", f"kind=json,path={out / name}",
             "--disable-console-interactive"])


def vllm(venv: Path, port: int, tok: Path, out: Path) -> None:
    """vllm bench serve: 4 prompts at concurrency 2, summary only and with per-request detail."""
    for extra, name in (([], "vllm_serve.json"), (["--save-detailed"], "vllm_serve_detailed.json")):
        run([str(venv / "bin" / "vllm"), "bench", "serve", "--backend", "openai", "--base-url",
             f"http://127.0.0.1:{port}", "--endpoint", "/v1/completions", "--model", "tiny", "--tokenizer", str(tok),
             "--dataset-name", "random", "--random-input-len", "32", "--random-output-len", "8", "--num-prompts", "4",
             "--max-concurrency", "2", "--ignore-eos", "--save-result", "--result-dir", str(out),
             "--result-filename", name, "--disable-tqdm", *extra])


def llama_bench(binary: Path, model: Path, out: Path) -> None:
    """llama-bench's own JSON and JSONL outputs of pp32 and tg8 at depth 0 and 64, 2 repetitions."""
    for fmt in ("json", "jsonl"):
        with (out / f"llama_bench_cpu.{fmt}").open("w") as fh:
            run([str(binary), "-m", str(model), "-p", "32", "-n", "8", "-d", "0,64", "-r", "2", "-t", "1", "-o", fmt],
                stdout=fh)


def main() -> int:
    """Record whichever tools are given."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--guidellm", type=Path, help="a venv with guidellm installed")
    ap.add_argument("--vllm", type=Path, help="a venv with vllm installed")
    ap.add_argument("--llama-bench", type=Path, help="a llama-bench binary")
    ap.add_argument("--work", type=Path, default=Path("/tmp/tokbench-record"))
    ap.add_argument("--out", type=Path, default=ROOT / "tests/store/fixtures/real")
    a = ap.parse_args()
    from client_capacity import make_tokenizer

    a.work.mkdir(parents=True, exist_ok=True)
    a.out.mkdir(parents=True, exist_ok=True)
    model, tok = tiny_model(a.work), make_tokenizer(a.work / "tok")
    if a.llama_bench:
        llama_bench(a.llama_bench, model, a.out)
    if a.guidellm or a.vllm:
        port = free_port()
        server = start_server(model, port)
        try:
            if a.guidellm:
                guidellm(a.guidellm, port, tok, a.out)
            if a.vllm:
                vllm(a.vllm, port, tok, a.out)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps({"written": sorted(p.name for p in a.out.iterdir())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
