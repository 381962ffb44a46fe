"""Scheduler logic: bounds, warm-up, concurrency cap, arrivals, failures and interruption.

The engine here is an in-memory fake on purpose: these tests check the scheduler's bookkeeping
(how many in flight, when requests start), which a real engine cannot be instrumented for; the
real engines are exercised in tests/engines and tests/cli.
"""

import asyncio

import pytest

from tokbench.engines.protocol import EngineError, GenResult, Prompt, clock
from tokbench.loadgen.scheduler import Point, Scheduler


class FakeEngine:
    max_concurrency = 64
    timestamps_on_loop = True

    def __init__(self, token_s=0.002, fail_every=0):
        self.token_s, self.fail_every = token_s, fail_every
        self.in_flight = self.max_in_flight = self.calls = 0
        self.starts = []
        self.seeds = []

    async def make_prompt(self, n, seed):
        self.seeds.append(seed)
        return Prompt(n, token_ids=[1] * n)

    async def generate(self, req, sink):
        self.calls += 1
        self.starts.append(clock())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.fail_every and self.calls % self.fail_every == 0:
                raise EngineError("http_503", "busy")
            for _ in range(req.max_tokens):
                await asyncio.sleep(self.token_s)
                sink(clock(), 1)
            return GenResult("length", req.prompt.n_tokens, req.max_tokens)
        finally:
            self.in_flight -= 1


def _run(engine, point, stop_after=None):
    async def main():
        sched = Scheduler(engine)
        if stop_after:
            asyncio.get_running_loop().call_later(stop_after, sched.stop.set)
        return await sched.run_point(point)
    return asyncio.run(main())


def test_closed_loop_counts_and_cap():
    eng = FakeEngine()
    res = _run(eng, Point(concurrency=4, context_depth=8, gen_tokens=5, requests=12, warmup=2))
    measured = [r for r in res.records if not r.warmup]
    assert len(measured) == 12 and sum(r.warmup for r in res.records) == 2
    assert eng.max_in_flight == 4
    assert all(r.output_tokens == 5 and len(r.token_times) == 5 for r in measured)
    assert all(r.t_start <= r.t_first_token <= r.t_end for r in measured)
    assert len(set(eng.seeds)) == len(eng.seeds)  # every prompt distinct, warm-up included


def test_failures_are_recorded_and_do_not_stop_others():
    eng = FakeEngine(fail_every=3)
    res = _run(eng, Point(concurrency=2, gen_tokens=3, requests=9, warmup=0))
    errs = [r for r in res.records if r.status == "error"]
    assert len(res.records) == 9 and len(errs) == 3
    assert {r.error_class for r in errs} == {"http_503"}


def test_constant_rate_follows_absolute_schedule():
    eng = FakeEngine(token_s=0.001)
    _run(eng, Point(concurrency=0, gen_tokens=2, requests=10, rate=50, warmup=0))
    gaps = [b - a for a, b in zip(eng.starts, eng.starts[1:])]
    assert sum(gaps) / len(gaps) == pytest.approx(0.02, abs=0.004)


def test_poisson_rate_is_seeded_and_capped():
    eng = FakeEngine(token_s=0.01)
    _run(eng, Point(concurrency=3, gen_tokens=5, requests=15, rate=200, arrival="poisson", warmup=0))
    assert eng.max_in_flight <= 3 and eng.calls == 15


def test_duration_bound_stops_issuing():
    eng = FakeEngine(token_s=0.002)
    t0 = clock()
    res = _run(eng, Point(concurrency=2, gen_tokens=5, requests=None, duration=0.3, warmup=0))
    assert 0.25 < clock() - t0 < 0.6
    assert len(res.records) >= 10 and all(r.status == "ok" for r in res.records)


def test_stop_marks_in_flight_incomplete():
    eng = FakeEngine(token_s=0.05)
    res = _run(eng, Point(concurrency=3, gen_tokens=100, requests=6, warmup=0), stop_after=0.3)
    assert res.interrupted
    assert len(res.records) == 3
    assert all(r.status == "incomplete" and r.error_class == "interrupted" for r in res.records)
    assert all(0 < r.output_tokens < 100 for r in res.records)


def test_concurrency_above_engine_limit_is_refused():
    eng = FakeEngine()
    eng.max_concurrency = 1
    with pytest.raises(EngineError):
        _run(eng, Point(concurrency=2, requests=2))
