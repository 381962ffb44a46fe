"""Tokens, not chunks, and prompts counted once per length, on real servers (CPU, loopback):

- ``mlx_lm.server`` with a synthetic model of a byte-level BPE vocabulary streams text when a word
  is complete, so its chunks carry several tokens: every count must still be in tokens (the
  model's own tokenizer on each chunk's text, settled to the server's usage total);
- ``python -m llama_cpp.server``: exact prompt lengths from its ``/extras/tokenize`` endpoint, a few
  calls per length however many requests there are.
"""

import asyncio

import pytest
from tb_tiny_models import tiny_gguf

from tokbench.engines.registry import create
from tokbench.loadgen.scheduler import Point, Scheduler
from tokbench.metrics import summarize_point

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def bpe_mlx(tmp_path_factory):
    from tokbench.modelspec.model import ModelSpec
    from tokbench.synth import synthesize

    spec = ModelSpec(name="tiny-bpe", arch="llama", n_layers=2, hidden=64, n_heads=4, n_kv_heads=2, head_dim=16,
                     vocab=512, intermediate=128, context_length=8192, source="test")
    return synthesize(spec, "mlx-4bit", tmp_path_factory.mktemp("bpe") / "tiny-bpe-mlx", vocab=512)


def test_mlx_server_multi_token_chunks_are_counted_in_tokens(bpe_mlx):
    async def main():
        eng = create("mlx-server", model=str(bpe_mlx), n_ctx_per_seq=512, n_parallel=2)
        await eng.start()
        try:
            return eng.flavor, await Scheduler(eng).run_point(
                Point(concurrency=1, context_depth=64, gen_tokens=32, requests=3, warmup=0))
        finally:
            await eng.stop()

    flavor, res = asyncio.run(main())
    assert flavor == "mlx_lm.server"
    recs = res.records
    assert all(r.status == "ok" for r in recs)
    assert all(r.usage_output_tokens == 32 == len(r.token_times) for r in recs)  # tokens, whatever the chunks
    assert all(r.prompt_tokens == r.usage_prompt_tokens == 64 for r in recs)  # exact prompts (local tokenizer)
    assert any(r.chunks < 32 for r in recs)  # the server did put several tokens in some chunks
    assert {r.token_source for r in recs if r.chunks < 32} == {"tokenizer"}
    row = summarize_point(recs)
    assert row["tokens_per_chunk"]["mean"] > 1.0 and row["decode_tps_per_stream"]["p50"] > 0


def test_llama_cpp_server_prompts_are_counted_per_length(tmp_path):
    model = tiny_gguf(tmp_path / "tiny.gguf")

    async def main():
        eng = create("llama.cpp-server", model=str(model), n_ctx_per_seq=512, n_threads=1)
        await eng.start()
        calls = []
        count = eng.count_tokens

        async def counted(text):
            calls.append(text)
            return await count(text)

        try:
            eng.count_tokens = counted
            prompts = await eng.make_prompts(300, list(range(40)))
            spent = len(calls)
            truth = [await count(p.text) for p in prompts]
            return eng.flavor, eng.counting, spent, prompts, truth
        finally:
            await eng.stop()

    flavor, counting, spent, prompts, truth = asyncio.run(main())
    assert flavor == "llama-cpp-python" and "/extras/tokenize" in counting
    assert truth == [300] * 40 and all(p.n_tokens == 300 for p in prompts)
    assert spent <= 8  # a base counted once for the length, one more prompt checked: not 40 searches
    assert len({" ".join(p.text.split()[:4]) for p in prompts}) == 40  # a unique head per request
