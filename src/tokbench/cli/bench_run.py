"""Runs ``tokbench bench`` jobs: start the engine (preflight), create the run, run each point,
write every record as it ends, and finish the run as complete, interrupted or failed.

Ctrl-C / SIGTERM set a stop event: requests in flight are cancelled and stored as ``incomplete``,
the run is marked ``interrupted`` and the engine stopped, within a few seconds. ``--resume``
rebuilds the job from the stored config and runs what is left of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import platform
import signal
import socket
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tokbench.cli.bench_suite import Job, ModelRef, resolve_model
from tokbench.errors import UserError
from tokbench.loadgen.scheduler import Point, Scheduler


def engine_options(job: Job, args, model_path: Path | None) -> dict[str, Any]:
    """Keyword options for the engine factory, sized for the job's largest point."""
    need = max(p.context_depth + p.gen_tokens for p in job.points) + 16
    parallel = max(max(p.concurrency for p in job.points), 1)
    if any(p.rate and p.concurrency == 0 for p in job.points):
        parallel = max(parallel, 8)  # open loop without a cap: give the batch some room
    opts: dict[str, Any] = {"n_ctx_per_seq": need, "n_parallel": parallel}
    if model_path is not None:
        opts["model"] = str(model_path)
    if job.engine == "openai":
        opts.update(endpoint=args.endpoint, model=args.model_name, api_key=args.api_key, tokenizer=args.tokenizer)
    if getattr(args, "threads", None):
        opts["n_threads"] = args.threads
    return opts


def header_hash(path: Path) -> str | None:
    """sha256 of a GGUF's header (metadata and tensor table, not the weights); of config.json for MLX dirs."""
    try:
        if path.is_dir():
            return hashlib.sha256((path / "config.json").read_bytes()).hexdigest()
        from tokbench.modelspec.gguf_header import parse_gguf_header

        end = int(parse_gguf_header(path).data_offset)  # header only: milliseconds even for 100 GB files
        with open(path, "rb") as f:
            return hashlib.sha256(f.read(end)).hexdigest()
    except Exception:  # noqa: BLE001 - a hash we cannot compute is recorded as missing, not fatal
        return None


def host_environment() -> dict[str, Any]:
    """Host facts from tokbench.env's probe (no bandwidth measurement: it would delay every run)."""
    base = {"host": socket.gethostname(), "python": sys.version.split()[0], "os": platform.platform()}
    try:
        from tokbench.env import probe_host

        return {**probe_host(measure=False), **base}
    except Exception as exc:  # noqa: BLE001 - a probe that fails must not stop a benchmark
        return {**base, "cpu_count": os.cpu_count(), "probe_error": f"{type(exc).__name__}: {exc}"}


def environment(engine, model_path: Path | None, ref: ModelRef) -> dict[str, Any]:
    """The run's environment record: host, engine and version, model file and its header hash."""
    info = engine.info()
    env = {"host": host_environment(), "engine": {"name": info.name, "version": info.version, **info.extra},
           "model": {"name": info.model or ref.label, "label": ref.label, "quant": ref.quant}}
    if model_path is not None and model_path.exists():
        size = model_path.stat().st_size if model_path.is_file() else sum(
            f.stat().st_size for f in model_path.rglob("*") if f.is_file())
        env["model"].update(file=model_path.name, path=str(model_path), size_bytes=size,
                            header_sha256=header_hash(model_path))
    return env


def job_config(job: Job, args, opts: dict) -> dict[str, Any]:
    """Everything needed to understand and resume the run (secrets are redacted by the store)."""
    safe_opts = {k: v for k, v in opts.items() if k != "api_key"}
    return {"engine": job.engine, "model": asdict(job.model), "engine_options": safe_opts,
            "points": [asdict(p) for p in job.points], "kinds": job.kinds,
            "slo": getattr(args, "slo_dict", None), "argv": _safe_argv(), **_identity(job, args)}


def _identity(job: Job, args) -> dict[str, Any]:
    """What reports and `tokbench validate` match a run on: the catalog hardware id given with
    --hardware, and the quant (the job's, else the GGUF file's own type when the file is here)."""
    out: dict[str, Any] = {}
    if getattr(args, "hardware", None):
        from tokbench.catalog.hardware import get_hardware

        out["hardware_id"] = get_hardware(args.hardware).id
    quant = job.model.quant
    path = Path(str(job.model.path or job.model.label or ""))
    if quant is None and path.suffix == ".gguf" and path.is_file():
        try:
            from tokbench.modelspec.gguf_header import spec_from_gguf

            quant = spec_from_gguf(path).file_type
        except Exception:  # noqa: BLE001 - a file we cannot read simply has no recorded quant
            quant = None
    if quant:
        out["quant"] = quant
    return out


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


def job_from_config(config: dict) -> Job:
    """Inverse of :func:`job_config` (for ``--resume``)."""
    job = Job(ModelRef(**config["model"]), config["engine"])
    job.points = [Point(**p) for p in config["points"]]
    job.kinds = dict(config.get("kinds", {}))
    return job


class Runner:
    """Runs jobs against a store; ``on_record`` (progress) sees every record."""

    def __init__(self, store, args, on_record=None, on_warning=None):
        self.store, self.args = store, args
        self.on_record = on_record or (lambda rec: None)
        self.warn = on_warning or (lambda msg: print(f"tokbench: warning: {msg}", file=sys.stderr))
        self.stop = asyncio.Event()

    def install_signals(self) -> None:
        """SIGINT/SIGTERM stop the run gracefully (a second Ctrl-C still kills the process)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError):
                pass

    def _on_signal(self, sig) -> None:
        if self.stop.is_set():
            os._exit(130)
        self.warn("interrupted: stopping requests in flight and saving what was measured")
        self.stop.set()

    async def start_engine(self, job: Job):
        """Resolve the model and start the engine (the preflight): UserError before any run exists."""
        from tokbench.engines import registry

        model_path = None if job.engine == "openai" else resolve_model(job.model)
        opts = engine_options(job, self.args, model_path)
        engine = registry.create(job.engine, **opts)
        await engine.start()
        return engine, model_path, opts

    async def run_job(self, job: Job, suite_id: str | None = None, resume: str | None = None) -> tuple[str, str]:
        """Run one job as one stored run (or continue run ``resume``); returns (run_id, status)."""
        engine, model_path, opts = await self.start_engine(job)
        too_many = [p.label for p in job.points if p.concurrency > engine.max_concurrency]
        if too_many:
            await engine.stop()
            raise UserError(f"engine '{job.engine}' runs {engine.max_concurrency} stream(s) at once; points "
                            f"{', '.join(too_many)} ask more (use --engine mlx-server or llama.cpp-server)")
        try:
            if resume:
                run_id = resume
                self.store.reopen_run(run_id)
            else:
                env = environment(engine, model_path, job.model)
                run_id = self.store.create_run("bench", job_config(job, self.args, opts), env,
                                               suite_id=suite_id, name=getattr(self.args, "name", None))
            status = await self._points(engine, job, run_id, resume is not None)
            self.store.finish_run(run_id, status)
            return run_id, status
        except BaseException as exc:
            if "run_id" in locals():
                self.store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            await engine.stop()

    async def _points(self, engine, job: Job, run_id: str, resuming: bool) -> str:
        done_meta = self.store.point_meta(run_id) if resuming else {}
        existing = self.store.records(run_id, include_warmup=True) if resuming else []
        index_start = max((r.index for r in existing), default=-1) + 1

        def sink(rec) -> None:
            self.store.add_record(run_id, rec)
            self.on_record(rec)

        sched = Scheduler(engine, sink, self.stop, index_start)
        for point in job.points:
            if self.stop.is_set():
                return "interrupted"
            if done_meta.get(point.label, {}).get("done"):
                continue
            point = _remaining(point, [r for r in existing if r.point == point.label and not r.warmup])
            if point is None:
                continue
            if point.concurrency > engine.max_concurrency:
                raise UserError(f"engine '{job.engine}' runs {engine.max_concurrency} stream(s) at once; "
                                f"point {point.label} asks {point.concurrency} (use a server engine for concurrency)")
            result = await sched.run_point(point)
            meta = {"kind": job.kinds.get(point.label, ""), "done": not result.interrupted, **result.meta()}
            self.store.set_point_meta(run_id, point.label, meta)
            if result.lag and result.lag.distorting() and getattr(engine, "timestamps_on_loop", True):
                self.warn(f"{point.label}: client event loop lagged (p99 {result.lag.p99_ms:.1f} ms, "
                          f"max {result.lag.max_ms:.1f} ms): timings may be inflated by the client itself")
        return "interrupted" if self.stop.is_set() else "complete"


def _remaining(point: Point, measured: list) -> Point | None:
    """What is left of a point after an interrupted run (requests not yet finished)."""
    if not measured:
        return point
    from dataclasses import replace

    if point.requests is None:  # duration-bound: run the whole duration again
        return point
    finished = sum(1 for r in measured if r.status != "incomplete")
    left = point.requests - finished
    return replace(point, requests=left) if left > 0 else None
