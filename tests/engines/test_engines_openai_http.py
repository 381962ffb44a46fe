"""OpenAI-compatible HTTP engine against a real `python -m llama_cpp.server` (tiny synthetic GGUF).

One server for the module, started with an API key, on a free loopback port; stopped at the end.
"""

import asyncio
import subprocess
import sys
import time
import urllib.request

import pytest
from tb_tiny_models import tiny_gguf

from tokbench.engines.openai_http import OpenAIEngine
from tokbench.engines.servers import free_port
from tokbench.errors import UserError
from tokbench.loadgen.scheduler import Point, Scheduler

pytestmark = pytest.mark.engine
KEY = "sk-test-0123456789abcdef"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = tiny_gguf(tmp_path_factory.mktemp("m") / "tiny.gguf")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "tiny",
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024", "--n_threads", "1",
                             "--api_key", KEY, "--interrupt_requests", "False", "--verbose", "False"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/v1/models", timeout=1)
        except urllib.error.HTTPError:
            break  # 401 without the key: it is up
        except OSError:
            time.sleep(0.1)
            continue
        break
    yield f"{url}/v1"
    proc.terminate()
    proc.wait(10)


def _run(endpoint, fn, **kw):
    async def main():
        eng = OpenAIEngine(endpoint, **kw)
        await eng.start()
        try:
            return await fn(eng)
        finally:
            await eng.stop()
    return asyncio.run(main())


def test_detects_llama_cpp_python_and_exact_prompts(server):
    async def fn(eng):
        p = await eng.make_prompt(300, seed=11)
        return eng.flavor, p.n_tokens, await eng.count_tokens(p.text)

    flavor, n, counted = _run(server, fn, model="tiny", api_key=KEY)
    assert flavor == "llama-cpp-python"
    assert n == counted == 300


def test_points_record_every_token(server):
    async def fn(eng):
        sched = Scheduler(eng)
        return [await sched.run_point(Point(concurrency=c, context_depth=100, gen_tokens=12, requests=3, warmup=1))
                for c in (1, 2)]

    results = _run(server, fn, model="tiny", api_key=KEY)
    for res in results:
        measured = [r for r in res.records if not r.warmup]
        assert len(measured) == 3 and all(r.status == "ok" for r in measured)
        # llama-cpp-python sends no usage; a "length" finish means exactly 12 were generated. Its
        # chunks need not be one per token (UTF-8 hold-back), so the client count is only close.
        assert [(r.usage_output_tokens, r.prompt_tokens) for r in measured] == [(12, 100)] * 3
        assert all(abs(r.output_tokens - 12) <= 4 for r in measured)
        assert all(r.t_start < r.t_first_token <= r.token_times[-1] <= r.t_end for r in measured)


def test_chat_api_streams(server):
    async def fn(eng):
        sched = Scheduler(eng)
        return await sched.run_point(Point(concurrency=1, context_depth=50, gen_tokens=8, requests=1, warmup=0,
                                           api="chat"))

    res = _run(server, fn, model="tiny", api_key=KEY)
    assert res.records[0].status == "ok" and res.records[0].output_tokens >= 1


def test_wrong_key_fails_preflight(server):
    with pytest.raises(UserError, match="authentication failed"):
        _run(server, lambda eng: None, model="tiny", api_key="wrong-key-123")


def test_wrong_model_fails_with_close_match(server):
    with pytest.raises(UserError, match="did you mean: tiny"):
        _run(server, lambda eng: None, model="tinyy", api_key=KEY)


def test_unreachable_endpoint_fails_preflight():
    port = free_port()  # nothing listens there
    with pytest.raises(UserError, match="cannot reach"):
        _run(f"http://127.0.0.1:{port}/v1", lambda eng: None, model="x")


def test_key_never_in_info(server):
    info = _run(server, lambda eng: asyncio.sleep(0, eng.info()), model="tiny", api_key=KEY)
    assert KEY not in repr(info)
