"""Launched servers for real: `llama.cpp-server` (python -m llama_cpp.server) and `mlx-server`
(mlx_lm.server) started by the engine on a free loopback port with a tiny synthetic model.
"""

import asyncio

import pytest
from tb_tiny_models import tiny_gguf, tiny_mlx

from tokbench.engines.registry import create
from tokbench.loadgen.scheduler import Point, Scheduler

pytestmark = pytest.mark.engine


def _bench(engine_name, model, concurrency=(1, 2)):
    async def main():
        eng = create(engine_name, model=str(model), n_ctx_per_seq=512, n_threads=1, n_parallel=2)
        await eng.start()
        proc = eng._proc
        try:
            sched = Scheduler(eng)
            out = [await sched.run_point(Point(concurrency=c, context_depth=40, gen_tokens=8, requests=2, warmup=0))
                   for c in concurrency]
            return eng, proc, out
        finally:
            await eng.stop()
    return asyncio.run(main())


def test_llama_cpp_server_launcher(tmp_path):
    eng, proc, results = _bench("llama.cpp-server", tiny_gguf(tmp_path / "t.gguf"))
    assert proc.poll() is not None  # stopped after the run
    assert eng.flavor == "llama-cpp-python"
    recs = [r for res in results for r in res.records]
    assert len(recs) == 4 and all(r.status == "ok" and r.usage_output_tokens == 8 for r in recs)
    assert all(r.prompt_tokens == 40 for r in recs)
    # llama.cpp's own per-request timings were printed by the verbose server
    assert "eval time" in eng.log_path.read_text()


def test_mlx_server_launcher(tmp_path):
    eng, proc, results = _bench("mlx-server", tiny_mlx(tmp_path / "mlx"))
    assert proc.poll() is not None
    recs = [r for res in results for r in res.records]
    assert len(recs) == 4 and all(r.status == "ok" for r in recs)
    assert all(r.usage_output_tokens == 8 and r.usage_prompt_tokens == 40 for r in recs)
    assert all(r.prompt_tokens == 40 for r in recs)  # exact via the model dir's tokenizer


def test_mlx_in_process(tmp_path):
    async def main():
        eng = create("mlx", model=str(tiny_mlx(tmp_path / "mlx")))
        await eng.start()
        try:
            return eng, await Scheduler(eng).run_point(Point(concurrency=1, context_depth=30, gen_tokens=6,
                                                             requests=2, warmup=1))
        finally:
            await eng.stop()

    eng, res = asyncio.run(main())
    assert eng.max_concurrency == 1
    recs = [r for r in res.records if not r.warmup]
    assert [(r.output_tokens, r.usage_output_tokens, r.usage_prompt_tokens) for r in recs] == [(6, 6, 30)] * 2
    assert all(r.native["generation_tps"] > 0 for r in recs)
