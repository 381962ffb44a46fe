"""Which HTTP client should tokbench stream with? aiohttp vs httpx (and tokbench's raw path).

Same method as client_capacity.py: benchmarks/stream_server.py pinned to core 0 (TTFT 20 ms,
100 tokens 10 ms apart), the client pinned to core 1, each of C streams sends 2 requests. Each
client reads SSE lines and timestamps them on arrival, nothing else, so the figures compare the
HTTP stacks: client CPU per streamed token, ITL p50 (10 ms is exact), TTFT p50, aggregate tok/s.
Standard asyncio loop for all (uvloop would help all three alike).

Run: python benchmarks/http_client_choice.py [--levels 64,256,512]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BODY = {"model": "fake", "prompt": "hello", "max_tokens": 100, "stream": True}


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def _aiohttp(url: str, c: int) -> list[list[float]]:
    import aiohttp

    out = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        async def one():
            t0, times = time.perf_counter(), []
            async with s.post(url, json=BODY) as r:
                async for line in r.content:
                    if line.startswith(b"data:") and b"[DONE]" not in line and b'"usage"' not in line:
                        times.append(time.perf_counter())
            out.append([t0] + times)

        async def worker():
            for _ in range(2):
                await one()
        await asyncio.gather(*[worker() for _ in range(c)])
    return out


async def _httpx(url: str, c: int) -> list[list[float]]:
    import httpx

    out = []
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(limits=limits, timeout=None) as s:
        async def one():
            t0, times = time.perf_counter(), []
            async with s.stream("POST", url, json=BODY) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data:") and "[DONE]" not in line and '"usage"' not in line:
                        times.append(time.perf_counter())
            out.append([t0] + times)

        async def worker():
            for _ in range(2):
                await one()
        await asyncio.gather(*[worker() for _ in range(c)])
    return out


async def _raw(url: str, c: int) -> list[list[float]]:
    from urllib.parse import urlsplit

    from tokbench.engines.rawhttp import post_stream

    u = urlsplit(url)
    out = []
    body = json.dumps(BODY).encode()

    async def one():
        t0, times = time.perf_counter(), []

        def feed(data: bytes, t: float) -> bool:
            n = data.count(b'"text"')
            times.extend([t] * n)
            return b"[DONE]" in data
        await post_stream(u.hostname, u.port, u.path, {"Content-Type": "application/json"}, body, feed)
        out.append([t0] + times)

    async def worker():
        for _ in range(2):
            await one()
    await asyncio.gather(*[worker() for _ in range(c)])
    return out


def child(client: str, port: int, c: int) -> dict:
    """Run one client at concurrency c in this (pinned) process; summary as a dict."""
    url = f"http://127.0.0.1:{port}/v1/completions"
    fn = {"aiohttp": _aiohttp, "httpx": _httpx, "tokbench-raw": _raw}[client]
    cpu0, t0 = _cpu(), time.perf_counter()
    streams = asyncio.run(fn(url, c))
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    tokens = sum(len(s) - 1 for s in streams)
    itl = [(b - a) * 1e3 for s in streams for a, b in zip(s[1:], s[2:])]
    ttft = [(s[1] - s[0]) * 1e3 for s in streams if len(s) > 1]
    return {"client": client, "concurrency": c, "tokens": tokens, "cpu_us_per_token": 1e6 * cpu / max(tokens, 1),
            "cpu_share": cpu / wall, "itl_p50_ms": statistics.median(itl), "ttft_p50_ms": statistics.median(ttft),
            "aggregate_tps": tokens / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--levels", default="64,256,512")
    ap.add_argument("--out", default=str(HERE / "results" / "http_client_choice.md"))
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], int(a.child[1]), int(a.child[2]))))
        return
    from tokbench.engines.servers import free_port

    port = free_port()
    srv = subprocess.Popen(["taskset", "-c", "0", sys.executable, str(HERE / "stream_server.py"), str(port)])
    rows = []
    try:
        time.sleep(1.0)
        for c in (int(x) for x in a.levels.split(",")):
            for client in ("aiohttp", "httpx", "tokbench-raw"):
                r = subprocess.run(["taskset", "-c", "1", sys.executable, __file__, "--child", client, str(port), str(c)],
                                   capture_output=True, text=True, timeout=600)
                row = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else \
                    {"client": client, "concurrency": c, "error": r.stderr.strip().splitlines()[-1][:150]}
                print(row, flush=True)
                rows.append(row)
    finally:
        srv.terminate()
        srv.wait(5)
    write(a.out, rows)


def write(path: str, rows: list[dict]) -> None:
    """Markdown table with the machine named."""
    import aiohttp
    import httpx

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    doc = [f"# HTTP client for streaming ({time.strftime('%Y-%m-%d')})", "",
           f"Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}; "
           f"aiohttp {aiohttp.__version__}, httpx {httpx.__version__}. Produced by benchmarks/http_client_choice.py.", "",
           "| client | streams | CPU us/token | client CPU | ITL p50 ms | TTFT p50 ms | aggregate tok/s |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            doc.append(f"| {r['client']} | {r['concurrency']} | error: {r['error']} | | | | |")
            continue
        doc.append(f"| {r['client']} | {r['concurrency']} | {r['cpu_us_per_token']:.1f} | {100 * r['cpu_share']:.0f}% | "
                   f"{r['itl_p50_ms']:.2f} | {r['ttft_p50_ms']:.1f} | {r['aggregate_tps']:,.0f} |")
    Path(path).write_text("\n".join(doc + [""]))
    print("\n".join(doc))


if __name__ == "__main__":
    main()
