"""Does tokbench measure decode tok/s the way the engine itself does?

Single stream, the same requests measured twice: by tokbench (per-stream decode tok/s =
(n-1) / (last token - first token), client clock) and by the engine's own timing.
1. Ground truth over HTTP: benchmarks/stream_server.py emits tokens on an exact absolute schedule
   (10 ms apart = 100 tok/s): tokbench's figure vs the schedule.
2. llama.cpp in process: tokbench's in-process engine vs llama.cpp's own perf counters for the
   same request (llama_perf_context: eval time / eval runs, what llama-server reports as
   timings.predicted_per_second).
3. llama.cpp over HTTP through `python -m llama_cpp.server` (verbose): tokbench vs the server's
   per-request "llama_perf_context_print: eval time" line. llama-cpp-python samples, detokenizes and
   streams in Python *between* llama_decode calls and its eval time covers only the decodes, so a
   gap here is the server's per-token overhead, not a client error; it is reported, not hidden.
   (llama.cpp's C++ llama-server, whose timings.predicted_per_second tokbench reads natively via
   /completion, is not built on this machine.)

Run: python benchmarks/bench_fidelity.py [--out benchmarks/results/bench_fidelity.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVAL_RE = re.compile(r"^llama_perf_context_print:\s+eval time =\s+([\d.]+) ms /\s+(\d+) runs", re.M)


async def ground_truth(reps: int) -> list[tuple[float, float]]:
    """(tokbench tok/s, exact 100 tok/s) per request against the scripted server."""
    from tokbench.engines.openai_http import OpenAIEngine
    from tokbench.engines.servers import free_port
    from tokbench.loadgen.scheduler import Point, Scheduler
    from tokbench.metrics import decode_tps

    port = free_port()
    srv = subprocess.Popen([sys.executable, str(HERE / "stream_server.py"), str(port)])
    try:
        time.sleep(1.0)
        eng = OpenAIEngine(f"http://127.0.0.1:{port}/v1", model="fake", exact_prompts=False)
        await eng.start()
        res = await Scheduler(eng).run_point(Point(concurrency=1, context_depth=16, gen_tokens=100,
                                                   requests=reps, warmup=1))
        await eng.stop()
    finally:
        srv.terminate()
        srv.wait(5)
    return [(decode_tps(r), 100.0) for r in res.records if not r.warmup]


async def in_process(model: Path, depth: int, gen: int, reps: int) -> list[tuple[float, float]]:
    """(tokbench tok/s, llama.cpp perf-counter tok/s) per request, in-process llama.cpp."""
    from tokbench.engines.registry import create
    from tokbench.loadgen.scheduler import Point, Scheduler
    from tokbench.metrics import decode_tps

    eng = create("llama.cpp", model=str(model), n_ctx_per_seq=depth + gen + 16)
    await eng.start()
    try:
        res = await Scheduler(eng).run_point(Point(concurrency=1, context_depth=depth, gen_tokens=gen,
                                                   requests=reps, warmup=1))
    finally:
        await eng.stop()
    return [(decode_tps(r), r.native["predicted_per_second"]) for r in res.records if not r.warmup]


async def over_http(model: Path, depth: int, gen: int, reps: int) -> list[tuple[float, float]]:
    """(tokbench tok/s, server-logged llama.cpp eval tok/s) per request via llama_cpp.server."""
    from tokbench.engines.registry import create
    from tokbench.loadgen.scheduler import Point, Scheduler
    from tokbench.metrics import decode_tps

    eng = create("llama.cpp-server", model=str(model), n_ctx_per_seq=depth + gen + 16)
    await eng.start()
    try:
        res = await Scheduler(eng).run_point(Point(concurrency=1, context_depth=depth, gen_tokens=gen,
                                                   requests=reps, warmup=1))
    finally:
        await eng.stop()
    evals = [(float(ms), int(n)) for ms, n in EVAL_RE.findall(eng.log_path.read_text())]
    evals = evals[-reps:]  # the preflight and warm-up requests come first in the log
    recs = [r for r in res.records if not r.warmup]
    return [(decode_tps(r), n / (ms / 1000)) for r, (ms, n) in zip(recs, evals)]


async def cpp_server(binary: str, model: Path, depth: int, gen: int, reps: int) -> list[tuple[float, float]]:
    """(tokbench tok/s, llama-server's timings.predicted_per_second) for the same requests, against
    llama.cpp's C++ llama-server (the comparison issue 7 asks for)."""
    import urllib.request

    from tokbench.engines.openai_http import OpenAIEngine
    from tokbench.engines.servers import free_port
    from tokbench.loadgen.scheduler import Point, Scheduler
    from tokbench.metrics import decode_tps

    port = free_port()
    log = open(HERE / ".llama-server-fidelity.log", "w")
    proc = subprocess.Popen([binary, "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-np", "1",
                             "-c", str(depth + gen + 64), "-t", str(max(1, (os.cpu_count() or 2) - 1))],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        eng = OpenAIEngine(f"http://127.0.0.1:{port}/v1", model=None)
        await eng.start()
        try:
            res = await Scheduler(eng).run_point(Point(concurrency=1, context_depth=depth, gen_tokens=gen,
                                                       requests=reps, warmup=1))
        finally:
            await eng.stop()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
        (HERE / ".llama-server-fidelity.log").unlink(missing_ok=True)
    recs = [r for r in res.records if not r.warmup and r.native.get("predicted_per_second")]
    return [(decode_tps(r), r.native["predicted_per_second"]) for r in recs]


def rows(name: str, pairs: list[tuple[float, float]]) -> str:
    """One Markdown row: means and the relative difference."""
    ours = statistics.mean(p[0] for p in pairs)
    ref = statistics.mean(p[1] for p in pairs)
    worst = max(abs(a / b - 1) for a, b in pairs)
    return f"| {name} | {len(pairs)} | {ours:,.2f} | {ref:,.2f} | {100 * (ours / ref - 1):+.2f}% | {100 * worst:.2f}% |"


READING = """Reading the rows:
- Against an exact schedule, tokbench's timing error is at most 0.01% per request: the client clock adds
  nothing measurable at one stream.
- llama-server (C++) row: the comparison issue 7 asks for. llama-server computes
  predicted_per_second as (n - 1) / (time from first to last generated token), the same definition as
  tokbench's per-stream decode tok/s, measured on the server's clock; the difference is the client's
  timing error. On the H100 (data/h100_campaign/fidelity.csv) the mean difference is within +-0.1% at
  every sweep point (1, 8 and 16 concurrent; 3 models): the goal's 1% is met there. On a 2-core
  machine the same comparison reads about -3.4%: llama-server's compute thread holds one core, so
  its HTTP thread and the client share the other and the last chunks reach the client ~10 ms late
  (what any client on such a box sees; the server's own figure excludes delivery).
- In process, the gap to llama.cpp's eval counter (which times llama_decode only) is the engine
  loop's own per-token work between decodes (reading logits, argmax, batch building in Python,
  ~50 us per token). A client of llama.cpp sees this rate; it is a stricter reference than the goal's.
- `python -m llama_cpp.server` does not stream in real time: after a few tokens its SSE output stalls
  (~190 ms) and the rest arrives in a burst 0.1-0.3 ms apart (the same with aiohttp as the client, so
  it is the server): any client's per-stream decode rate for it is inflated; TTFT and E2E are right.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--depth", type=int, default=512)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=str(HERE / "results" / "bench_fidelity.md"))
    ap.add_argument("--llama-server", default=os.environ.get("LLAMA_SERVER"),
                    help="path of llama.cpp's C++ llama-server binary (built from the llama-cpp-python sources)")
    a = ap.parse_args()
    from tokbench.synth import ensure_default_model

    model = ensure_default_model()
    table = [rows("scripted server over HTTP (exact 100 tok/s)", asyncio.run(ground_truth(a.reps))),
             rows(f"llama.cpp in process, d={a.depth}", asyncio.run(in_process(model, a.depth, a.gen, a.reps))),
             rows(f"llama_cpp.server over HTTP, d={a.depth}", asyncio.run(over_http(model, a.depth, a.gen, a.reps)))]
    if a.llama_server:
        table.append(rows(f"llama-server (C++) timings.predicted_per_second over HTTP, d={a.depth}",
                          asyncio.run(cpp_server(a.llama_server, model, a.depth, a.gen, a.reps))))
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    doc = [f"# Decode tok/s fidelity ({time.strftime('%Y-%m-%d')})", "",
           f"Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}; model {model.name} "
           f"(tokbench synthetic default); single stream, {a.gen} tokens after {a.depth} prompt tokens.",
           "Produced by benchmarks/bench_fidelity.py (method in its docstring).", "",
           "| measured against | requests | tokbench tok/s | reference tok/s | mean diff | worst request |",
           "|---|---:|---:|---:|---:|---:|", *table, "", READING]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("\n".join(doc))
    print("\n".join(doc))


if __name__ == "__main__":
    main()
