"""Exact timing arithmetic and faults, against a tiny aiohttp SSE server with a scripted schedule.

A real server cannot produce exact timings or chosen faults, so this fake does: it poses as
llama.cpp's llama-server (GET /props, POST /tokenize, POST /completion with ``tokens`` per chunk
and final ``timings``), as vLLM (GET /version, POST /tokenize, token-id prompts, the running usage
in every chunk, /metrics), or as a plain OpenAI server, and sends tokens on an absolute schedule;
``per_chunk`` > 1 puts several tokens in each chunk, as speculative decoding does.
"""

import asyncio
import json
import time

import pytest
from aiohttp import web

from tokbench.engines.openai_http import OpenAIEngine
from tokbench.loadgen.scheduler import Point, Scheduler
from tokbench.metrics import summarize_point

TTFT, GAP, N = 0.05, 0.02, 10


def make_app(flavor="llama-server", fail=None, per_chunk=1, seen=None):
    calls = {"n": 0}
    seen = seen if seen is not None else {}

    async def version(request):
        if flavor != "vllm":
            return web.Response(status=404)
        return web.json_response({"version": "0.99.0-fake"})

    async def metrics(request):
        n = calls["n"]
        return web.Response(text=f"# HELP x\nvllm:spec_decode_num_drafts_total{{model=\"m\"}} {10 * n}\n"
                                 f"vllm:spec_decode_num_draft_tokens_total{{model=\"m\"}} {30 * n}\n"
                                 f"vllm:spec_decode_num_accepted_tokens_total{{model=\"m\"}} {24 * n}\n")

    async def models(request):
        return web.json_response({"data": [{"id": "m"}]})

    async def props(request):
        if flavor != "llama-server":
            return web.Response(status=404)
        return web.json_response({"build_info": "b9999-fake", "default_generation_settings": {}})

    async def tokenize(request):
        body = await request.json()
        text = body.get("content", body.get("prompt", ""))
        seen["tokenize"] = seen.get("tokenize", 0) + 1
        return web.json_response({"tokens": [7] + [100 + len(w) for w in text.split()]})

    async def stream(request):
        body = await request.json()
        if not body.get("stream"):  # the usage probe a plain OpenAI server gets for prompt lengths
            seen["usage_probes"] = seen.get("usage_probes", 0) + 1
            if fail == "nousage":
                return web.json_response({"choices": [{"text": "x"}]})
            n_prompt = 1 + len(body["prompt"].split())
            return web.json_response({"choices": [{"text": "x"}], "usage": {"prompt_tokens": n_prompt}})
        calls["n"] += 1
        seen.setdefault("prompts", []).append(body.get("prompt"))
        if fail == "503" and calls["n"] % 2 == 0 and body.get("n_predict", body.get("max_tokens")) > 2:
            return web.Response(status=503, text="overloaded")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        n = body.get("n_predict") or body.get("max_tokens")
        t0 = time.perf_counter()
        sent = 0
        while sent < n:
            k = 2 if (flavor == "llama-server" and sent == 2) else 1  # one chunk carries two tokens
            k = min(max(k, per_chunk), n - sent)
            due = t0 + TTFT + (sent + k - 1) * GAP  # absolute schedule
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if fail == "malformed" and sent == 3:
                await resp.write(b"data: {not json\n\n")
                return resp
            if fail == "truncate" and sent == 3:
                return resp
            if flavor == "llama-server":
                chunk = {"content": "x" * k, "tokens": list(range(k)), "stop": False}
            else:
                chunk = {"choices": [{"text": " x" * k, "finish_reason": None}]}
                if flavor == "vllm" and body.get("stream_options", {}).get("continuous_usage_stats"):
                    chunk["usage"] = {"prompt_tokens": 5, "completion_tokens": sent + k}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
            sent += k
        if flavor == "llama-server":
            last = {"content": "", "stop": True, "stop_type": "limit",
                    "timings": {"predicted_n": n, "predicted_per_second": 1 / GAP, "prompt_n": 5,
                                "draft_n": 8, "draft_n_accepted": 6}}
            await resp.write(f"data: {json.dumps(last)}\n\n".encode())
        else:
            await resp.write(b'data: {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": %d}}\n\n' % n)
            await resp.write(b"data: [DONE]\n\n")
        return resp

    routes = [web.get("/v1/models", models), web.get("/props", props), web.get("/version", version),
              web.get("/metrics", metrics), web.post("/completion", stream), web.post("/v1/completions", stream)]
    if flavor in ("llama-server", "vllm"):
        routes.append(web.post("/tokenize", tokenize))

    async def extras_tokenize(request):  # llama-cpp-python's: BOS + one token per word
        body = await request.json()
        seen["tokenize"] = seen.get("tokenize", 0) + 1
        return web.json_response({"tokens": [1] + [100 + len(w) for w in str(body.get("input", "")).split()]})

    if flavor == "llama-cpp-python":
        routes.append(web.post("/extras/tokenize", extras_tokenize))
    app = web.Application()
    app.add_routes(routes)
    return app


def run_bench(flavor, fail=None, requests=4, concurrency=2, raw_http=True, per_chunk=1, seen=None):
    async def main():
        runner = web.AppRunner(make_app(flavor, fail, per_chunk, seen))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        eng = OpenAIEngine(f"http://127.0.0.1:{port}/v1", model="m", raw_http=raw_http)
        try:
            await eng.start()
            res = await Scheduler(eng).run_point(Point(concurrency=concurrency, context_depth=20, gen_tokens=N,
                                                       requests=requests, warmup=0))
            return eng, res
        finally:
            await eng.stop()
            await runner.cleanup()
    return asyncio.run(main())


@pytest.mark.parametrize("raw_http", [True, False], ids=["raw", "aiohttp"])
@pytest.mark.parametrize("flavor", ["llama-server", "openai"])
def test_ttft_itl_and_decode_rate_match_the_schedule(flavor, raw_http):
    eng, res = run_bench(flavor, raw_http=raw_http)
    assert eng.flavor == flavor
    row = summarize_point(res.records)
    assert row["ok"] == 4
    assert row["ttft_ms"]["p50"] == pytest.approx(TTFT * 1e3, abs=8)
    assert row["decode_tps_per_stream"]["mean"] == pytest.approx(1 / GAP, rel=0.05)
    assert all(len(r.token_times) == N for r in res.records)  # a 2-token chunk counts 2 tokens
    if flavor == "llama-server":
        assert all(r.native["predicted_per_second"] == 1 / GAP for r in res.records)
        assert row["native_decode_tps"]["mean"] == pytest.approx(1 / GAP)
        # the 2-token chunk gives one zero gap: ITL counted per token
        assert sum(1 for r in res.records for a, b in zip(r.token_times, r.token_times[1:]) if a == b) == 4


def test_server_errors_are_recorded_per_request():
    _, res = run_bench("openai", fail="503", requests=6)
    classes = sorted(r.error_class or "ok" for r in res.records)
    assert classes.count("http_503") == 3 and classes.count("ok") == 3


@pytest.mark.parametrize("raw_http", [True, False], ids=["raw", "aiohttp"])
@pytest.mark.parametrize("fail,cls", [("malformed", "malformed_sse"), ("truncate", "truncated_stream")])
def test_broken_streams_have_error_classes(fail, cls, raw_http):
    _, res = run_bench("openai", fail=fail, requests=2, concurrency=1, raw_http=raw_http)
    assert [r.error_class for r in res.records] == [cls, cls]
    assert all(r.output_tokens == 3 for r in res.records)  # tokens seen before the fault are kept


@pytest.mark.parametrize("flavor,source", [("openai", "usage_spread"), ("vllm", "server"), ("llama-server", "server"),
                                           ("llama-cpp-python", "tokenizer")])
def test_multi_token_chunks_are_counted_in_tokens(flavor, source):
    # Speculative decoding's shape: 3 tokens per chunk, 3 x GAP apart (the issue's case: usage 60,
    # 20 chunks). Every figure is per token: decode tok/s = 1 / GAP, ITL = GAP, TPOT = GAP.
    eng, res = run_bench(flavor, requests=3, concurrency=1, per_chunk=3)
    row = summarize_point(res.records)
    assert row["ok"] == 3 and {r.token_source for r in res.records} == {source}
    assert all(len(r.token_times) == N for r in res.records)
    assert row["decode_tps_per_stream"]["p50"] == pytest.approx(1 / GAP, rel=0.1)
    assert row["itl_ms"]["p50"] == pytest.approx(GAP * 1e3, rel=0.15) and row["tpot_ms"]["p50"] == pytest.approx(GAP * 1e3, rel=0.15)
    assert row["tokens_per_chunk"]["mean"] == pytest.approx(N / 4)  # 3 + 3 + 3 + 1


def test_vllm_flavor_token_id_prompts_counted_once_per_length_and_spec_counters():
    seen = {}
    eng, res = run_bench("vllm", requests=6, concurrency=2, seen=seen)
    assert eng.flavor == "vllm" and eng.server_version == "0.99.0-fake" and eng.counting == "vllm /tokenize"
    prompts = seen["prompts"][1:]  # after the preflight's
    assert all(isinstance(p, list) and len(p) == 20 for p in prompts)  # token ids, exact length
    assert len({tuple(p[:6]) for p in prompts}) == 6  # a unique head per request: no shared cached prefix
    assert seen["tokenize"] <= 4  # counting costs calls per length (preflight included), not per request
    spec = summarize_point(res.records, counters=res.server_counters)["speculative"]
    assert spec["acceptance"] == pytest.approx(0.8) and spec["source"].startswith("server /metrics")


def test_llama_server_draft_counters_give_acceptance():
    _, res = run_bench("llama-server", requests=2, concurrency=1)
    spec = summarize_point(res.records)["speculative"]
    assert spec["draft_tokens"] == 16 and spec["accepted_tokens"] == 12 and spec["acceptance"] == pytest.approx(0.75)


def test_a_server_without_tokenize_counts_by_usage_once_per_length():
    seen = {}
    eng, res = run_bench("openai", requests=20, concurrency=2, seen=seen)
    assert eng.counting == "usage of one-token generations" and "no tokenize endpoint" in eng.counting_note
    assert all(r.prompt_tokens == 20 for r in res.records)  # exact, by the server's own count
    assert seen["usage_probes"] <= 12  # a few per length (preflight included), not up to 24 per request


def test_a_server_that_cannot_count_says_so_and_reports_true_lengths():
    seen = {}
    eng, res = run_bench("openai", fail="nousage", requests=3, concurrency=1, seen=seen)
    assert eng.counting is None and "cannot count tokens" in eng.counting_note
    assert all(r.status == "ok" and r.prompt_tokens == r.usage_prompt_tokens == 5 for r in res.records)
