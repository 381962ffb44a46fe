"""The run lifecycle of ``tokbench bench``: job -> engine start -> points -> store, for every
workload (sweeps, rates, agent sessions) through the one scheduler.

For each run of the job: start its engines (the preflight: bad input ends here with one line,
before a run exists), create the run (the whole job, the run's identity, the host), then run its
points, every request written as it ends (tokbench.store.writer), and finish the run complete,
interrupted or failed. Ctrl-C / SIGTERM stop every phase within a second: preflight (synthesis,
model load, server start), prompt preparation, measurement and agent sessions; the run is marked
interrupted and everything measured is kept. ``--resume`` (a run or its suite) reloads the stored
job and finishes it whole: interrupted runs from where they stopped (their requests numbered on,
measuring time counted per attempt), runs never started from the start.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field

from tokbench.bench.job import BenchJob, RunSpec
from tokbench.bench.start import Started, engine_environment, host_environment, start_run, stop_engine
from tokbench.errors import UserError
from tokbench.loadgen.scheduler import Point, Scheduler, Stopped, until_stopped


class Events:
    """What the pipeline tells whoever runs it (the command line renders these); no-ops here."""

    def warn(self, message: str) -> None:
        """A line the user should see."""

    def phase(self, text: str) -> None:
        """What the run is doing now (starting the engine, preparing prompts, measuring a point)."""

    def progress(self, what: str, done: int, total: int | None) -> None:
        """Progress of a phase (prompt counting)."""

    def record(self, rec) -> None:
        """A request ended (warm-up included)."""

    def suite(self, suite_id: str, runs: int) -> None:
        """The job is a suite: its id (what ``--resume`` takes to finish it whole)."""


@dataclass
class RunOutcome:
    """What became of one run of the job."""

    index: int
    spec: RunSpec
    run_id: str | None = None
    status: str = "not started"  # complete | interrupted | failed | not started
    identity: dict | None = None


@dataclass
class Outcome:
    """The job's runs, its suite id, and whether it was interrupted."""

    job: BenchJob
    suite_id: str | None
    runs: list[RunOutcome] = field(default_factory=list)
    interrupted: bool = False


@dataclass
class Resume:
    """A stored job to finish: its suite id and the runs it already has (by run index)."""

    job: BenchJob
    suite_id: str | None
    stored: dict[int, str]  # run index -> run id
    status: dict[int, str]  # run index -> stored status


class Pipeline:
    """Runs a job against a store."""

    def __init__(self, job: BenchJob, store, events: Events | None = None, api_key: str | None = None):
        self.job, self.store = job, store
        self.events = events or Events()
        self.api_key = api_key
        self.stop = asyncio.Event()
        self._host_hw: asyncio.Future | None = None

    # ---- signals ---------------------------------------------------------------------------
    def install_signals(self) -> None:
        """SIGINT/SIGTERM stop the job gracefully (a second one ends the process at once)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal)
            except (NotImplementedError, RuntimeError):
                pass

    def _on_signal(self) -> None:
        if self.stop.is_set():
            os._exit(130)
        self.events.warn("interrupted: stopping requests in flight and saving what was measured")
        self.stop.set()

    # ---- the job ---------------------------------------------------------------------------
    async def run(self, resume: Resume | None = None) -> Outcome:
        """Run (or finish) every run of the job, in order."""
        job = self.job
        suite_id = resume.suite_id if resume else None
        if suite_id is None and len(job.runs) > 1:
            import time

            suite_id = f"{job.suite or 'suite'}-{time.strftime('%Y%m%d-%H%M%S')}"
        out = Outcome(job, suite_id)
        if suite_id:
            self.events.suite(suite_id, len(job.runs))
        if not job.hardware and any(r.target.endpoint is None for r in job.runs):
            # This host's bandwidth for the planner takes seconds to measure: beside the first engine's
            # start (a model load), not after it; never while requests run.
            from tokbench.engines.threads import in_daemon_thread

            self._host_hw = asyncio.ensure_future(in_daemon_thread(_host_hardware))
        for i, spec in enumerate(job.runs):
            done = RunOutcome(i, spec)
            out.runs.append(done)
            if resume and resume.status.get(i) == "complete":
                done.run_id, done.status = resume.stored[i], "complete"
                continue
            if self.stop.is_set():
                continue
            await self._run_one(done, suite_id, resume.stored.get(i) if resume else None)
        out.interrupted = self.stop.is_set()
        return out

    def _hardware_id(self, local: bool, host: dict) -> tuple[str | None, str | None]:
        """(catalog id, label) of the hardware measured: --hardware, else this host (local engines)
        when the catalog knows it; an endpoint's machine is unknown without --hardware."""
        if self.job.hardware:
            from tokbench.catalog.hardware import get_hardware

            hw = get_hardware(self.job.hardware)
            return hw.id, hw.label
        if not local:
            return None, None
        hw = host.get("hardware") or {}
        label = f"{host.get('cpu') or 'this host'} ({hw.get('label', 'host')})"
        return (hw.get("id") if hw.get("in_catalog") else None), label

    async def _run_one(self, done: RunOutcome, suite_id: str | None, resume_id: str | None) -> None:
        spec = done.spec
        self.events.phase(f"{spec.name or spec.target.label} on {spec.target.engine}: starting")
        try:
            started = await start_run(spec, self.stop, self.api_key)
        except Stopped:
            done.status = "interrupted" if resume_id else "not started"
            done.run_id = resume_id
            return
        try:
            await self._measure(done, started, suite_id, resume_id)
        except Stopped:  # interrupted before the run was created (the host's measurement)
            done.status = "interrupted" if resume_id else "not started"
        finally:
            for s in started:
                await stop_engine(s.engine, fast=self.stop.is_set())

    async def _measure(self, done: RunOutcome, started: list[Started], suite_id: str | None,
                       resume_id: str | None) -> None:
        from tokbench.bench.identity import identity

        spec, main = done.spec, started[0]
        self._check_concurrency(spec, main)
        host = host_environment()
        hw_id, hw_label = self._hardware_id(spec.target.endpoint is None, host)
        ident = identity(spec.target, main.engine.info(), main.model_path, hw_id, host, hw_label)
        done.identity = ident.to_dict()
        if resume_id:
            run_id = resume_id
            self.store.reopen_run(run_id)
        else:
            env = {"host": host, **engine_environment(main)}
            if hw_id is None and spec.target.endpoint is None and not self.job.hardware:
                # An uncatalogued host: the planner uses it as measured (bandwidth, matmul rate:
                # seconds, so off the loop and interruptible); kept with the run for reports.
                from dataclasses import asdict

                hw = await until_stopped(self.stop, asyncio.shield(self._host_hw))
                env["planner_hardware"] = asdict(hw) if hw is not None else None
            if len(started) > 1:
                env["sub"] = engine_environment(started[1])
            run_id = self.store.create_run("bench", self._config(done, started), env, suite_id=suite_id,
                                           name=self.job.name or spec.name)
        done.run_id = run_id
        note = getattr(main.engine, "counting_note", None)
        if note:
            self.events.warn(note)
        try:
            status = await self._workload(done, started, run_id, resume_id is not None)
        except BaseException as exc:
            self.store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
            done.status = "failed"
            from tokbench.engines.protocol import EngineError

            if isinstance(exc, EngineError):  # e.g. the server stopped answering while prompts were made
                raise UserError(f"run {run_id} failed: {spec.target.engine}: {exc} (what was measured is "
                                f"kept; --resume {run_id} continues it)") from None
            raise
        self.store.finish_run(run_id, status)
        done.status = status

    def _check_concurrency(self, spec: RunSpec, main: Started) -> None:
        limit = main.engine.max_concurrency
        too_many = [p.label for p in spec.points if p.concurrency > limit]
        if too_many:
            raise UserError(f"engine '{spec.target.engine}' runs {limit} stream(s) at once; points "
                            f"{', '.join(too_many)} ask more: use --concurrency {limit} (or a server engine such "
                            f"as --engine llama.cpp-server or mlx-server)")

    def _config(self, done: RunOutcome, started: list[Started]) -> dict:
        """Everything needed to understand and resume the run (secrets are redacted by the store)."""
        spec = done.spec
        cfg = {"job": self.job.to_dict(), "run_index": done.index, "identity": done.identity,
               "engine": spec.target.engine, "engine_options": started[0].options, "workload": self.job.workload,
               "kinds": dict(spec.kinds), "slo": self.job.slo_dict, "argv": _safe_argv()}
        if spec.agents is not None:
            cfg.update(agents=spec.agents.to_dict(), name=spec.name,
                       sub={"shared": spec.sub is None, "engine": (spec.sub or spec.target).engine,
                            "engine_options": started[-1].options})
        return cfg

    async def _workload(self, done: RunOutcome, started: list[Started], run_id: str, resuming: bool) -> str:
        from tokbench.store.writer import RecordWriter

        existing = self.store.records(run_id, include_warmup=True) if resuming else []
        index_start = max((r.index for r in existing), default=-1) + 1
        attempt = max((r.attempt for r in existing), default=-1) + 1 if existing else 0
        writer = RecordWriter(self.store, run_id)

        def sink(rec) -> None:
            writer.add(rec)
            self.events.record(rec)

        sched = Scheduler(started[0].engine, sink, self.stop, index_start, attempt, self.events.progress)
        # The writer thread builds and commits rows while streams run: with the default 5 ms switch
        # interval it could keep the event loop (which timestamps every chunk) waiting that long.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, 0.0005))
        try:
            if done.spec.agents is not None:
                await self._agents(done, started, sched, run_id)
            else:
                await self._points(done.spec, sched, run_id, existing)
        finally:
            sys.setswitchinterval(switch)
            writer.close()
        return "interrupted" if self.stop.is_set() else "complete"

    async def _points(self, spec: RunSpec, sched: Scheduler, run_id: str, existing: list) -> None:
        done_meta = self.store.point_meta(run_id) if existing else {}
        engine = sched.engine
        for point in spec.points:
            if self.stop.is_set():
                return
            if done_meta.get(point.label, {}).get("done"):
                continue
            point = remaining(point, [r for r in existing if r.point == point.label and not r.warmup])
            if point is None:
                continue
            self.events.phase(f"{spec.target.label}: {point.label}")
            result = await sched.run_point(point)
            meta = {"kind": spec.kind_of(point.label), "done": not result.interrupted, **result.meta()}
            self.store.set_point_meta(run_id, point.label, meta)
            if result.lag and result.lag.distorting() and getattr(engine, "timestamps_on_loop", True):
                self.events.warn(f"{point.label}: client event loop lagged (p99 {result.lag.p99_ms:.1f} ms, max "
                                 f"{result.lag.max_ms:.1f} ms): timings may be inflated by the client itself")

    async def _agents(self, done: RunOutcome, started: list[Started], sched: Scheduler, run_id: str) -> None:
        from tokbench.report.planview import agents_plan
        from tokbench.loadgen.agents import AgentRunner
        from tokbench.metrics.agents import SUMMARY_KEY, summarize_agents

        from tokbench.bench.identity import identity

        main, sub = started[0], started[-1]
        engines = {"main": (done.identity or {}).get("engine"),
                   "sub": identity(sub.target, sub.engine.info(), sub.model_path, None, None).engine}
        self.events.phase(f"{done.spec.name}: agent session")
        result = await AgentRunner(main.engine, sub.engine, done.spec.agents, sched=sched).run()
        for point, meta in result.meta.items():
            self.store.set_point_meta(run_id, point, meta)
        summary = summarize_agents(result.records, result.meta)
        plan = None if self.stop.is_set() else agents_plan(done.spec, planner_hardware(self.job, done.spec),
                                                           main.model_path, sub.model_path, engines)
        # Not under a "summary" key: that name marks an imported run's stored per-point summaries.
        self.store.set_point_meta(run_id, SUMMARY_KEY, {"kind": "agents-summary", "agents": summary, "plan": plan})


def planner_hardware(job: BenchJob, spec: RunSpec):
    """The Hardware the planner assumes: --hardware, else this host for local engines (its bandwidth
    measured once per process: seconds; a llama.cpp engine's thread count applied), None for an
    endpoint without --hardware."""
    from tokbench.catalog.calibration import backend_of

    if job.hardware:
        from tokbench.catalog.hardware import get_hardware

        return get_hardware(job.hardware)
    if spec.target.endpoint is not None:
        return None
    hw = _host_hardware()
    if hw is not None and backend_of(spec.target.engine) == "llama.cpp":
        hw = hw.on_threads(spec.target.threads or _default_threads(spec.target.engine))
    return hw


def _default_threads(engine: str) -> int | None:
    """Threads llama.cpp runs on when tokbench starts it without --threads: the in-process engine
    leaves one core to the client; a server tokbench launches (llama-cpp-python's) takes half the
    logical CPUs, its own default ``max(cpu_count // 2, 1)``."""
    from tokbench.catalog.engines import ENGINES, IN_PROCESS, LAUNCHED

    e = ENGINES.get(engine)
    if e is None:
        return None
    if e.bench == IN_PROCESS:
        from tokbench.engines.llamacpp import default_threads

        return default_threads()
    if e.bench == LAUNCHED:
        import os

        return max((os.cpu_count() or 2) // 2, 1)
    return None


_HOST: list = []


def _host_hardware():
    if not _HOST:
        try:
            from tokbench.env import host_hardware

            # another kernel probe while the host has few or old ones (seconds; beside the first engine's
            # start): the plan takes the median of the host's last five
            _HOST.append(host_hardware(fresh_probe="stale"))
        except Exception:  # noqa: BLE001 - unknown host: measured without the planner
            _HOST.append(None)
    return _HOST[0]


def remaining(point: Point, measured: list) -> Point | None:
    """What is left of a point after an interrupted run (requests not yet finished)."""
    if not measured:
        return point
    from dataclasses import replace

    if point.requests is None:  # duration-bound: run the whole duration again
        return point
    finished = sum(1 for r in measured if r.status != "incomplete")
    left = point.requests - finished
    return replace(point, requests=left) if left > 0 else None


def load_resume(store, text: str) -> Resume:
    """The stored job that ``--resume TEXT`` finishes: TEXT is a run id (prefix, name, ``last``) or
    a suite id; every run of its suite is part of it (UserError when there is nothing to resume)."""
    runs = store.list_runs(suite_id=text.strip())
    if not runs:
        run_id = store.resolve_run_id(text)
        info = store.get_run(run_id)
        runs = store.list_runs(suite_id=info.suite_id) if info.suite_id else [info]
    live = [r.id for r in runs if r.status == "running" and not r.stale]
    if live:  # a live process still writes it: two writers would mix
        raise UserError(f"run {live[0]} is still running in another tokbench process; stop it before --resume")
    first = min(runs, key=lambda r: r.created_at)
    cfg = first.config or {}
    if cfg.get("workload") == "agents" and "job" not in cfg:
        raise UserError("agent runs cannot be resumed (the session's context is gone); run the workload again")
    from tokbench.bench.job import BenchJob, from_legacy_config

    job = BenchJob.from_dict(cfg["job"]) if "job" in cfg else from_legacy_config(cfg)
    stored = {int((r.config or {}).get("run_index", 0)): r.id for r in runs}
    status = {int((r.config or {}).get("run_index", 0)): ("interrupted" if r.stale else r.status) for r in runs}
    if job.workload == "agents":
        # An agent session's context (the growing conversation) is gone with its process: a broken
        # mix runs again whole, as a new run of the same suite; finished mixes stay.
        for i in [i for i, s in status.items() if s != "complete"]:
            stored.pop(i)
            status.pop(i)
    if all(status.get(i) == "complete" for i in range(len(job.runs))):
        what = f"suite {first.suite_id}" if first.suite_id else f"run {first.id}"
        raise UserError(f"{what} is complete; nothing to resume")
    return Resume(job, first.suite_id, stored, status)


def _safe_argv() -> list[str]:
    out, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            out.append("[REDACTED]")
            skip = False
        elif a == "--api-key":
            out.append(a)
            skip = True
        elif a.startswith("--api-key="):
            out.append("--api-key=[REDACTED]")
        else:
            out.append(a)
    return out
