"""The one scheduler: runs workloads (sweep points, request rates, agent sessions) on engines and
turns what happens into RequestRecords.

Knows only the engine protocol. A point goes through three phases, each stopped within a moment
by ``stop`` (Ctrl-C): *prepare* (its prompts, counted once per length by the engine, with
progress), *warm-up* (same shape, ``warmup=True``), *measure*. Two ways to issue requests:
- closed loop (``rate`` None): ``concurrency`` workers, each sends its next request as soon as
  its previous one ends (single stream = concurrency 1);
- open loop (``rate`` R req/s): arrivals on an absolute schedule (constant gaps 1/R, or Poisson:
  exponential gaps from a seeded generator), at most ``concurrency`` in flight when given.
Bounds: ``requests`` (measured requests of the point) or ``duration`` seconds (no new request
after it; those in flight finish). Agent sessions (tokbench.loadgen.agents) use the same request
primitive (:meth:`Scheduler.request`) and cancellation (:meth:`Scheduler.gather`). Failures are
recorded per request (``error_class``) and never stop the others; when ``stop`` is set, requests in
flight are cancelled and recorded as ``incomplete``.
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

PROMPT_BATCH = 256  # duration-bound points: prompts are made this many at a time, as they run out


@dataclass(frozen=True)
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
            object.__setattr__(self, "label", f"c={self.concurrency} d={self.context_depth}{rate}")


@dataclass
class PointResult:
    """Records of a point (warm-up included, flagged) and what the client itself looked like."""

    records: list[RequestRecord] = field(default_factory=list)
    lag: LagStats | None = None
    client_cpu_s: float = 0.0
    wall_s: float = 0.0
    prepare_s: float = 0.0
    interrupted: bool = False
    server_counters: dict | None = None  # the server's own counters over the measured phase (vLLM /metrics)

    def meta(self) -> dict:
        """Point metadata for the store (client CPU share, event-loop lag, preparation time)."""
        return {"wall_s": self.wall_s, "client_cpu_s": self.client_cpu_s, "prepare_s": self.prepare_s,
                "client_cpu_share": self.client_cpu_s / self.wall_s if self.wall_s else None,
                "loop_lag": self.lag.to_dict() if self.lag else None, "interrupted": self.interrupted,
                "server_counters": self.server_counters}


START_BATCH = 32  # closed-loop requests started in one event-loop turn (see _closed_loop)

RecordSink = Callable[[RequestRecord], None]
Progress = Callable[[str, int, int | None], None]  # (what, done, total)


class Stopped(Exception):
    """``stop`` was set while a phase was waiting (preparation, start-up)."""


async def until_stopped(stop: asyncio.Event, coro):
    """Await ``coro``, or cancel it and raise :class:`Stopped` as soon as ``stop`` is set."""
    task = asyncio.ensure_future(coro)
    if stop.is_set():
        task.cancel()
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        waiter.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise Stopped()
    return task.result()


@dataclass
class Shape:
    """What one request asks: everything but its prompt."""

    point: str
    concurrency: int
    context_depth: int
    gen_tokens: int
    ignore_eos: bool = True
    cache_prompt: bool = False
    api: str = "completions"
    timeout_s: float = 600.0
    role: str = ""


class Scheduler:
    """Runs workloads; ``on_record`` is called as each request ends (warm-up included)."""

    def __init__(self, engine: Engine, on_record: RecordSink | None = None, stop: asyncio.Event | None = None,
                 index_start: int = 0, attempt: int = 0, on_progress: Progress | None = None):
        self.engine = engine
        self.on_record = on_record or (lambda rec: None)
        self.stop = stop or asyncio.Event()
        self.attempt = attempt
        self.on_progress = on_progress or (lambda what, done, total: None)
        self._index = index_start
        self._deadlines = _Deadlines()

    # ---- the request primitive (every workload) ---------------------------------------------
    async def request(self, engine: Engine, prompt: Prompt, shape: Shape, warmup: bool = False,
                      into: list | None = None) -> RequestRecord:
        """One request as a record (appended to ``into``): errors recorded, never raised; cancelled
        -> incomplete (and the cancellation goes on)."""
        index, self._index = self._index, self._index + 1
        rec = RequestRecord(point=shape.point, index=index, concurrency=shape.concurrency,
                            context_depth=shape.context_depth, prompt_tokens=prompt.n_tokens,
                            gen_tokens_requested=shape.gen_tokens, t_start=clock(), warmup=warmup,
                            role=shape.role, attempt=self.attempt)
        times = rec.token_times

        def sink(t: float, n: int) -> None:
            times.extend((t,) * n)  # a chunk of k tokens counts k tokens, all at its arrival

        req = GenRequest(prompt, shape.gen_tokens, shape.ignore_eos, shape.cache_prompt, shape.api)
        task = asyncio.current_task()
        self._deadlines.add(task, rec.t_start + shape.timeout_s)
        try:
            res = await engine.generate(req, sink)
            rec.usage_prompt_tokens, rec.usage_output_tokens = res.usage_prompt_tokens, res.usage_output_tokens
            rec.native = dict(res.native)
            if res.finish_reason:
                rec.native.setdefault("finish_reason", res.finish_reason)
            if res.token_times is not None:  # counts settled after the stream (tokens, not chunks)
                rec.token_times = res.token_times
            rec.token_source, rec.chunks = res.token_source or "engine", res.chunks
            rec.t_end = res.t_done  # the final event's arrival (the engine may settle counts after it)
            if not prompt.exact and res.usage_prompt_tokens:
                rec.prompt_tokens = res.usage_prompt_tokens  # the server counted what we could not
        except EngineError as exc:
            rec.status, rec.error_class, rec.error_message = ERROR, exc.error_class, exc.message[:500]
        except (TimeoutError, asyncio.TimeoutError):
            rec.status, rec.error_class = INCOMPLETE, "timeout"
        except asyncio.CancelledError:
            if not self._deadlines.expired(task):
                rec.status, rec.error_class = INCOMPLETE, "interrupted"
                self._finish(rec, into)
                raise
            rec.status, rec.error_class = INCOMPLETE, "timeout"  # our own deadline: the run goes on
        except Exception as exc:  # noqa: BLE001 - a bug in one request must not abort the others
            rec.status, rec.error_class, rec.error_message = ERROR, type(exc).__name__, str(exc)[:500]
        finally:
            self._deadlines.remove(task)
        self._finish(rec, into)
        return rec

    def _finish(self, rec: RequestRecord, into: list | None) -> None:
        rec.t_end = rec.t_end or clock()
        rec.output_tokens = len(rec.token_times)
        rec.t_first_token = rec.token_times[0] if rec.token_times else None
        if into is not None:
            into.append(rec)
        self.on_record(rec)

    async def gather(self, coros) -> list:
        """Run coroutines together until all end, or cancel them all when ``stop`` is set.

        One wait on (all tasks, stop): re-waiting on the pending set after each completion would
        cost O(n^2) callbacks with thousands of open-loop requests.
        """
        tasks = [asyncio.ensure_future(c) for c in coros]
        if not tasks:
            return []
        everything = asyncio.gather(*tasks, return_exceptions=True)
        stopper = asyncio.ensure_future(self.stop.wait())
        try:
            done, _ = await asyncio.wait({everything, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stopper in done:
                for t in tasks:
                    t.cancel()
            return [r for r in await everything if not isinstance(r, BaseException)]
        finally:
            stopper.cancel()

    # ---- phases of a point -------------------------------------------------------------------
    async def prompts(self, point: Point, count: int, warmup: bool = False, start: int = 0) -> list[Prompt]:
        """``count`` prompts of the point's depth (seeds distinct for warm-up and measured requests:
        no measured prompt shares a prefix with anything sent before it); Stopped on Ctrl-C."""
        base = point.seed * 1_000_003 + (500_000 if warmup else 0)
        seeds = [base + start + i for i in range(count)]
        what = f"{point.label}: prompts"

        def progress(done, total) -> None:
            self.on_progress(what, done, total)

        make = getattr(self.engine, "make_prompts", None)
        if make is None:  # an engine of the older protocol: one at a time
            async def one_by_one():
                return [await self.engine.make_prompt(point.context_depth, seed=s) for s in seeds]
            return await until_stopped(self.stop, one_by_one())
        try:
            return await until_stopped(self.stop, make(point.context_depth, seeds, progress=progress, api=point.api))
        except TypeError:  # make_prompts without the api keyword
            return await until_stopped(self.stop, make(point.context_depth, seeds))

    async def run_point(self, point: Point) -> PointResult:
        """Prepare, warm up, then run the measured phase of ``point``; returns every record."""
        if point.concurrency > self.engine.max_concurrency:
            raise EngineError("concurrency", f"engine serves {self.engine.max_concurrency} at once, asked {point.concurrency}")
        out = PointResult()
        t_prep = clock()
        try:
            warm = await self.prompts(point, point.warmup, warmup=True) if point.warmup else []
            n = point.requests if point.duration is None else None
            prompts = await self.prompts(point, n if n is not None else min(PROMPT_BATCH, max(1, point.concurrency) * 4))
        except Stopped:
            out.interrupted = True
            return out
        out.prepare_s = clock() - t_prep
        await self._connections(point.concurrency or min(len(prompts), 64))
        if warm and not self.stop.is_set():
            await self._closed_loop(point, out, warm, None, warmup=True)
            await self._connections(point.concurrency or min(len(prompts), 64))
        counters = await self._counters()
        lag = LagMonitor()
        lag.start()
        cpu0, t0 = _cpu(), clock()
        # No cyclic GC pauses while timing: a full collection over thousands of records' token
        # lists stalls the loop for tens of ms (seen as loop lag). Collected right after.
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            if point.rate:
                await self._open_loop(point, out, prompts)
            else:
                await self._closed_loop(point, out, prompts, point.duration, warmup=False)
        finally:
            if gc_was_on:
                gc.enable()
        out.wall_s, out.client_cpu_s = clock() - t0, _cpu() - cpu0
        out.lag = await lag.stop()
        out.server_counters = _delta(counters, await self._counters())
        out.interrupted = self.stop.is_set()
        return out

    async def _connections(self, n: int) -> None:
        """Open the point's connections before its requests start together (HTTP engines): the
        first wave's TTFT then measures the server, not the client's connects."""
        warm = getattr(self.engine, "warm_connections", None)
        if warm is None or self.stop.is_set():
            return
        try:
            await until_stopped(self.stop, warm(n))
        except Stopped:
            pass

    async def _counters(self) -> dict | None:
        read = getattr(self.engine, "server_counters", None)
        if read is None or self.stop.is_set():
            return None
        try:
            return await until_stopped(self.stop, read())
        except (Stopped, EngineError, OSError):
            return None

    def _shape(self, point: Point) -> Shape:
        return Shape(point.label, point.concurrency, point.context_depth, point.gen_tokens, point.ignore_eos,
                     point.cache_prompt, point.api, point.timeout_s)

    async def _more(self, point: Point, prompts: list[Prompt], i: int) -> Prompt:
        """Prompt ``i`` of a duration-bound point, making the next batch when they run out."""
        if i >= len(prompts):
            prompts.extend(await self.prompts(point, PROMPT_BATCH, start=len(prompts)))
        return prompts[i]

    async def _closed_loop(self, point: Point, out: PointResult, prompts: list[Prompt], duration: float | None,
                           warmup: bool) -> None:
        n = None if duration else len(prompts)
        workers = point.concurrency if not warmup else min(point.concurrency, max(1, len(prompts)))
        shape = self._shape(point)
        issued = 0
        deadline = clock() + duration if duration else None

        async def worker() -> None:
            nonlocal issued
            while not self.stop.is_set():
                if (n is not None and issued >= n) or (deadline is not None and clock() >= deadline):
                    return
                i, issued = issued, issued + 1
                prompt = prompts[i] if n is not None else await self._more(point, prompts, i)
                await self.request(self.engine, prompt, shape, warmup, out.records)

        await self.gather(self._staggered(worker, workers))

    @staticmethod
    def _staggered(worker, n: int) -> list:
        """``n`` workers whose first requests go out START_BATCH at a time, one event-loop turn apart:
        the loop reads sockets between batches, so the first tokens of the earliest requests are
        timestamped as they arrive, not after hundreds of starts (~0.1 ms each) have run."""
        loop = asyncio.get_running_loop()
        gates = [loop.create_future() for _ in range((n - 1) // START_BATCH)]  # one per batch after the first

        def open_next(i: int) -> None:  # each gate opens one loop turn after the one before it
            if i < len(gates):
                if not gates[i].done():  # a gate whose waiters were cancelled (Ctrl-C) is cancelled too
                    gates[i].set_result(None)
                loop.call_soon(open_next, i + 1)

        async def gated(k: int) -> None:
            if k >= START_BATCH:
                await gates[k // START_BATCH - 1]
            elif k == 0 and gates:  # the first batch runs in this loop turn; the next opens after it
                loop.call_soon(open_next, 0)
            await worker()

        return [gated(k) for k in range(n)]

    async def _open_loop(self, point: Point, out: PointResult, prompts: list[Prompt]) -> None:
        rng = random.Random(point.seed)
        n = point.requests if point.duration is None else None
        cap = asyncio.Semaphore(point.concurrency) if point.concurrency > 0 else None
        shape = self._shape(point)
        t0 = clock()
        due, tasks, i = 0.0, [], 0
        while not self.stop.is_set() and (n is None or i < n) and (point.duration is None or due < point.duration):
            wait = t0 + due - clock()  # absolute schedule: lateness of one arrival never shifts the next
            if wait > 0:
                await _sleep_or_stop(self.stop, wait)
                if self.stop.is_set():
                    break
            prompt = prompts[i] if n is not None else await self._more(point, prompts, i)
            tasks.append(asyncio.ensure_future(self._limited(cap, prompt, shape, out)))
            i += 1
            due += rng.expovariate(point.rate) if point.arrival == "poisson" else 1.0 / point.rate
        await self.gather(tasks)

    async def _limited(self, cap: asyncio.Semaphore | None, prompt: Prompt, shape: Shape, out: PointResult) -> None:
        if cap is None:
            await self.request(self.engine, prompt, shape, into=out.records)
            return
        async with cap:
            await self.request(self.engine, prompt, shape, into=out.records)


class _Deadlines:
    """Per-request time limits, checked by one timer task: an ``asyncio.timeout`` per request costs
    ~9 us at each request start (measured on the 2-core VM), which delays every start of a wave of
    hundreds of simultaneous requests; a request over its limit is cancelled and recorded as
    ``timeout`` (the limits are minutes: a check every half second is precise enough)."""

    def __init__(self):
        self.live: dict = {}
        self.over: set = set()
        self._timer: asyncio.Task | None = None

    def add(self, task, deadline: float) -> None:
        self.live[task] = deadline
        if self._timer is None or self._timer.done():
            self._timer = asyncio.ensure_future(self._watch())

    def remove(self, task) -> None:
        self.live.pop(task, None)

    def expired(self, task) -> bool:
        """True (once) when ``task`` was cancelled for its deadline; its cancellation is withdrawn."""
        if task not in self.over:
            return False
        self.over.discard(task)
        uncancel = getattr(task, "uncancel", None)  # 3.11+: the task goes on as if never cancelled
        if uncancel is not None:
            uncancel()
        return True

    async def _watch(self) -> None:
        while self.live:
            await asyncio.sleep(0.5)
            now = clock()
            for task, deadline in list(self.live.items()):
                if now >= deadline and task not in self.over:
                    self.over.add(task)
                    task.cancel()


def _delta(before: dict | None, after: dict | None) -> dict | None:
    if not before or not after:
        return None
    return {k: after[k] - before.get(k, 0.0) for k in after}


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass


def _cpu() -> float:
    """CPU seconds (user + system) used by this process so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime
