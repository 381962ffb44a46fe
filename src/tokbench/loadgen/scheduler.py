"""Runs one sweep point against an engine and turns what happens into RequestRecords.

Knows only the engine protocol. Two ways to issue requests:
- closed loop (``rate`` None): ``concurrency`` workers, each sends its next request as soon as
  its previous one ends (single stream = concurrency 1);
- open loop (``rate`` R req/s): arrivals on an absolute schedule (constant gaps 1/R, or Poisson:
  exponential gaps from a seeded generator), at most ``concurrency`` in flight when given.
Bounds: ``requests`` (measured requests of the point) or ``duration`` seconds (no new request
after it; those in flight finish). Warm-up requests run first, same shape, ``warmup=True``.
Failures are recorded per request (``error_class``) and never stop the others. When ``stop``
is set (Ctrl-C), requests in flight are cancelled and recorded as ``incomplete``.
"""

from __future__ import annotations

import asyncio
import gc
import random
import resource
from collections.abc import Callable
from dataclasses import dataclass, field

from tokbench.engines.protocol import Engine, EngineError, GenRequest, Prompt, clock
from tokbench.loadgen.lag import LagMonitor, LagStats
from tokbench.records import ERROR, INCOMPLETE, OK, RequestRecord


@dataclass
class Point:
    """One sweep point: the workload shape and its bounds."""

    concurrency: int = 1
    context_depth: int = 512
    gen_tokens: int = 64
    requests: int | None = 8
    duration: float | None = None
    rate: float | None = None
    arrival: str = "constant"  # or "poisson"
    warmup: int = 1
    api: str = "completions"
    ignore_eos: bool = True
    cache_prompt: bool = False
    timeout_s: float = 600.0
    seed: int = 0
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            rate = f" rate={self.rate:g}/s" if self.rate else ""
            self.label = f"c={self.concurrency} d={self.context_depth}{rate}"


@dataclass
class PointResult:
    """Records of a point (warm-up included, flagged) and what the client itself looked like."""

    records: list[RequestRecord] = field(default_factory=list)
    lag: LagStats | None = None
    client_cpu_s: float = 0.0
    wall_s: float = 0.0
    interrupted: bool = False

    def meta(self) -> dict:
        """Point metadata for the store (client CPU share, event-loop lag)."""
        return {"wall_s": self.wall_s, "client_cpu_s": self.client_cpu_s,
                "client_cpu_share": self.client_cpu_s / self.wall_s if self.wall_s else None,
                "loop_lag": self.lag.to_dict() if self.lag else None, "interrupted": self.interrupted}


RecordSink = Callable[[RequestRecord], None]


class Scheduler:
    """Runs points on one engine; ``on_record`` is called as each request ends (warm-up included)."""

    def __init__(self, engine: Engine, on_record: RecordSink | None = None,
                 stop: asyncio.Event | None = None, index_start: int = 0):
        self.engine = engine
        self.on_record = on_record or (lambda rec: None)
        self.stop = stop or asyncio.Event()
        self._index = index_start

    async def run_point(self, point: Point) -> PointResult:
        """Warm up, then run the measured phase of ``point``; returns every record."""
        if point.concurrency > self.engine.max_concurrency:
            raise EngineError("concurrency", f"engine serves {self.engine.max_concurrency} at once, asked {point.concurrency}")
        out = PointResult()
        if point.warmup and not self.stop.is_set():
            await self._closed_loop(point, out, point.warmup, None, warmup=True)
        lag = LagMonitor()
        lag.start()
        cpu0, t0 = _cpu(), clock()
        # No cyclic GC pauses while timing: a full collection over thousands of records' token
        # lists stalls the loop for tens of ms (seen as loop lag). Collected right after.
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            if point.rate:
                await self._open_loop(point, out)
            else:
                await self._closed_loop(point, out, point.requests, point.duration, warmup=False)
        finally:
            if gc_was_on:
                gc.enable()
        out.wall_s, out.client_cpu_s = clock() - t0, _cpu() - cpu0
        out.lag = await lag.stop()
        out.interrupted = self.stop.is_set()
        return out

    # ---- request issue -------------------------------------------------------------------
    async def _prompt(self, point: Point, index: int, warmup: bool = False) -> Prompt:
        # Distinct seeds for warm-up and measured requests: no measured prompt shares a prefix
        # with anything sent before it.
        base = point.seed * 1_000_003 + (500_000 if warmup else 0)
        return await self.engine.make_prompt(point.context_depth, seed=base + index)

    async def _one(self, point: Point, prompt: Prompt, out: PointResult, warmup: bool) -> None:
        index, self._index = self._index, self._index + 1
        rec = RequestRecord(point=point.label, index=index, concurrency=point.concurrency,
                            context_depth=point.context_depth, prompt_tokens=prompt.n_tokens,
                            gen_tokens_requested=point.gen_tokens, t_start=clock(), warmup=warmup)
        times = rec.token_times

        def sink(t: float, n: int) -> None:
            times.extend((t,) * n)  # a chunk of k tokens counts k tokens, all at its arrival

        req = GenRequest(prompt, point.gen_tokens, point.ignore_eos, point.cache_prompt, point.api)
        try:
            async with _timeout(point.timeout_s):  # no extra task per request, unlike wait_for
                res = await self.engine.generate(req, sink)
            rec.status = OK
            rec.usage_prompt_tokens, rec.usage_output_tokens = res.usage_prompt_tokens, res.usage_output_tokens
            rec.native = dict(res.native)
            if res.finish_reason:
                rec.native.setdefault("finish_reason", res.finish_reason)
        except EngineError as exc:
            rec.status, rec.error_class, rec.error_message = ERROR, exc.error_class, exc.message[:500]
        except asyncio.TimeoutError:
            rec.status, rec.error_class = INCOMPLETE, "timeout"
        except asyncio.CancelledError:
            rec.status, rec.error_class = INCOMPLETE, "interrupted"
            self._finish(rec, out)
            raise
        except Exception as exc:  # noqa: BLE001 - a bug in one request must not abort the others
            rec.status, rec.error_class, rec.error_message = ERROR, type(exc).__name__, str(exc)[:500]
        self._finish(rec, out)

    def _finish(self, rec: RequestRecord, out: PointResult) -> None:
        rec.t_end = clock()
        rec.output_tokens = len(rec.token_times)
        rec.t_first_token = rec.token_times[0] if rec.token_times else None
        out.records.append(rec)
        self.on_record(rec)

    async def _closed_loop(self, point: Point, out: PointResult, n: int | None, duration: float | None,
                           warmup: bool) -> None:
        workers = point.concurrency if not warmup else min(point.concurrency, max(1, n or 1))
        issued = 0
        prompts = [await self._prompt(point, i, warmup) for i in range(n)] if n is not None and duration is None else None
        deadline = clock() + duration if duration else None

        async def worker() -> None:
            nonlocal issued
            while not self.stop.is_set():
                if (n is not None and issued >= n) or (deadline is not None and clock() >= deadline):
                    return
                i, issued = issued, issued + 1
                prompt = prompts[i] if prompts is not None else await self._prompt(point, i, warmup)
                await self._one(point, prompt, out, warmup)

        await self._supervise([worker() for _ in range(workers)])

    async def _open_loop(self, point: Point, out: PointResult) -> None:
        rng = random.Random(point.seed)
        n = point.requests
        prompts = [await self._prompt(point, i) for i in range(n)] if n is not None else None
        cap = asyncio.Semaphore(point.concurrency) if point.concurrency > 0 else None
        t0 = clock()
        due, tasks, i = 0.0, [], 0
        while not self.stop.is_set() and (n is None or i < n) and (point.duration is None or due < point.duration):
            wait = t0 + due - clock()  # absolute schedule: lateness of one arrival never shifts the next
            if wait > 0:
                await _sleep_or_stop(self.stop, wait)
                if self.stop.is_set():
                    break
            prompt = prompts[i] if prompts is not None else await self._prompt(point, i)
            tasks.append(asyncio.ensure_future(self._limited(cap, point, prompt, out)))
            i += 1
            due += rng.expovariate(point.rate) if point.arrival == "poisson" else 1.0 / point.rate
        await self._supervise(tasks)

    async def _limited(self, cap: asyncio.Semaphore | None, point: Point, prompt: Prompt, out: PointResult) -> None:
        if cap is None:
            return await self._one(point, prompt, out, False)
        async with cap:
            return await self._one(point, prompt, out, False)

    async def _supervise(self, coros) -> None:
        """Run tasks to completion, or cancel them all when ``stop`` is set.

        One wait on (all tasks, stop): re-waiting on the pending set after each completion would
        cost O(n^2) callbacks with thousands of open-loop requests.
        """
        tasks = [asyncio.ensure_future(c) for c in coros]
        if not tasks:
            return
        everything = asyncio.gather(*tasks, return_exceptions=True)
        stopper = asyncio.ensure_future(self.stop.wait())
        done, _ = await asyncio.wait({everything, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            for t in tasks:
                t.cancel()
        await everything
        stopper.cancel()
        await asyncio.gather(stopper, return_exceptions=True)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass


def _timeout(seconds: float):
    """``asyncio.timeout`` (3.11+); on 3.10 a no-op: engines have their own idle timeouts there."""
    import contextlib

    return asyncio.timeout(seconds) if hasattr(asyncio, "timeout") else contextlib.nullcontext()


def _cpu() -> float:
    """CPU seconds (user + system) used by this process so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime
