"""In-process llama.cpp for real (a tiny synthetic GGUF): exact prompts, batched concurrency."""

import asyncio

import pytest
from tb_tiny_models import tiny_gguf

from tokbench.engines.protocol import EngineError, GenRequest
from tokbench.engines.registry import create
from tokbench.errors import UserError

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def gguf(tmp_path_factory):
    return tiny_gguf(tmp_path_factory.mktemp("m") / "tiny.gguf")


def _with_engine(path, fn, **opts):
    async def main():
        eng = create("llama.cpp", model=str(path), n_threads=1, **opts)
        await eng.start()
        try:
            return await fn(eng)
        finally:
            await eng.stop()
    return asyncio.run(main())


def test_single_stream_exact_prompt_and_tokens(gguf):
    async def fn(eng):
        p = await eng.make_prompt(200, seed=3)
        times = []
        res = await eng.generate(GenRequest(p, 24), lambda t, n: times.extend([t] * n))
        return p, res, times

    p, res, times = _with_engine(gguf, fn, n_ctx_per_seq=512)
    assert p.n_tokens == len(p.token_ids) == 200
    assert res.usage_prompt_tokens == 200 and res.usage_output_tokens == 24 and res.finish_reason == "length"
    assert len(times) == 24 and times == sorted(times)


def test_concurrent_sequences_are_batched(gguf):
    async def fn(eng):
        async def one(i):
            p = await eng.make_prompt(64, seed=i)
            times = []
            await eng.generate(GenRequest(p, 64), lambda t, n: times.extend([t] * n))
            return times
        return await asyncio.gather(*[one(i) for i in range(4)])

    # 64 tokens each: on a fast core a 16-token stream could end before the last prompt was read
    streams = _with_engine(gguf, fn, n_parallel=4, n_ctx_per_seq=256)
    assert [len(s) for s in streams] == [64] * 4
    # Decoded together: the streams' token windows overlap instead of running one after another.
    assert max(s[0] for s in streams) < min(s[-1] for s in streams)


def test_context_overflow_is_a_request_error(gguf):
    async def fn(eng):
        p = await eng.make_prompt(250, seed=1)
        with pytest.raises(EngineError) as exc:
            await eng.generate(GenRequest(p, 100), lambda t, n: None)
        return exc.value.error_class

    assert _with_engine(gguf, fn, n_ctx_per_seq=256) == "context_overflow"


def test_count_tokens_matches_llama_cpp(gguf):
    import llama_cpp

    ref = llama_cpp.Llama(str(gguf), n_ctx=64, verbose=False)
    text = "the cat is on the mat, 42 times"

    async def fn(eng):
        return await eng.count_tokens(text)

    assert _with_engine(gguf, fn, n_ctx_per_seq=256) == len(ref.tokenize(text.encode()))


def test_missing_model_is_a_user_error(tmp_path):
    with pytest.raises(UserError):
        _with_engine(tmp_path / "nope.gguf", lambda eng: None)
