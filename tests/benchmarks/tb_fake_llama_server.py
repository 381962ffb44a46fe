"""A stand-in for llama.cpp's ``llama-server`` with speculative decoding, for testing
benchmarks/gpu/spec_decode.py where no GPU (and no C++ llama-server) is: the same command line,
``/health``, ``/props``, ``/v1/models``, ``/tokenize`` and a ``/completion`` stream that sends one
event per token but ``--spec-draft-n-max`` + 1 of them at once every ``GAP`` (an accepted draft: what
llama-server does, every token its own event, all written together), ending with ``timings`` on the
server's clock (``predicted_per_second`` = tokens after the first over first-to-last, as llama-server
computes it) and ``draft_n`` / ``draft_n_accepted`` (greedy with the model as its own draft: all
accepted). A real llama-server cannot be run here; the real one runs on the GPU machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from aiohttp import web

GAP = 0.02  # one verification step (a batch of accepted tokens) every 20 ms


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-m", "--model")
    ap.add_argument("--spec-draft-model")
    ap.add_argument("--spec-draft-n-max", type=int, default=0)
    ap.add_argument("--spec-type", default="none")  # as llama.cpp: a plain draft GGUF speculates only when named
    ap.add_argument("--port", type=int)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--version", action="store_true")
    a, _ = ap.parse_known_args()
    if a.version:
        print("version: 0000 (fake)\nbuilt with fake for testing")
        return
    batch = a.spec_draft_n_max + 1 if a.spec_draft_model and a.spec_type == "draft-simple" else 1

    async def health(request):
        return web.json_response({"status": "ok"})

    async def props(request):
        return web.json_response({"build_info": "b0000-fake", "default_generation_settings": {}})

    async def models(request):
        return web.json_response({"data": [{"id": a.model}]})

    async def tokenize(request):
        body = await request.json()
        return web.json_response({"tokens": [1] + [10 + len(w) for w in str(body.get("content", "")).split()]})

    async def completion(request):
        body = await request.json()
        n = int(body["n_predict"])
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await asyncio.sleep(0.01)  # "prefill"
        t_first = t_last = time.perf_counter()
        sent, steps, drafted = 0, 0, 0
        while sent < n:
            k = 1 if sent == 0 else min(batch, n - sent)  # the first token comes from the prompt's logits
            if sent:
                await asyncio.sleep(GAP)
                drafted += batch - 1
                steps += 1
            t_last = time.perf_counter()
            events = b"".join(b"data: " + json.dumps({"content": " x", "tokens": [5], "stop": False}).encode()
                              + b"\n\n" for _ in range(k))
            await resp.write(events)
            sent += k
        timings = {"predicted_n": n, "predicted_ms": (t_last - t_first) * 1e3,
                   "predicted_per_second": (n - 1) / (t_last - t_first), "prompt_n": 5}
        if batch > 1:
            timings.update(draft_n=drafted, draft_n_accepted=drafted - (batch * steps - (n - 1)))
        await resp.write(b"data: " + json.dumps({"content": "", "stop": True, "stop_type": "limit",
                                                 "timings": timings}).encode() + b"\n\n")
        return resp

    app = web.Application()
    app.add_routes([web.get("/health", health), web.get("/props", props), web.get("/v1/models", models),
                    web.post("/tokenize", tokenize), web.post("/completion", completion)])
    web.run_app(app, host=a.host, port=a.port, print=None)


if __name__ == "__main__":
    main()
