"""Preflight of a run: resolve (or synthesize) the model and start the engine of each target, all
interruptible: Ctrl-C during a synthesis, a model load or a server start ends the wait at once and
stops what was started (a launched server is killed if it does not stop within half a second).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import platform
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokbench.bench.job import ModelRef, RunSpec, Target
from tokbench.loadgen.scheduler import until_stopped

STOP_WAIT_S = 0.5  # an engine that has not stopped by then is killed (Ctrl-C must end within a second)


@dataclass
class Started:
    """One started engine with what it was started from."""

    target: Target
    engine: Any
    model_path: Path | None
    options: dict  # factory options, API key removed


def preload(job) -> None:
    """Import every engine module the job needs (and aiohttp for HTTP engines) before the event loop
    starts: an import cannot be interrupted from the loop (aiohttp's alone takes a second on a busy
    2-core machine), while before the loop Ctrl-C interrupts it at once."""
    import importlib

    from tokbench.catalog.engines import ENGINES

    names = {t.engine for r in job.runs for t in (r.target, r.sub) if t is not None}
    for name in names:
        e = ENGINES.get(name)
        if e is not None and e.factory:
            importlib.import_module(e.factory.split(":")[0])
            if e.server:
                importlib.import_module("aiohttp")


def engine_options(target: Target, run: RunSpec, role: str = "main", api_key: str | None = None,
                   model_path: Path | None = None) -> dict[str, Any]:
    """Keyword options for the engine factory, sized for the run's largest point (or agent roles)."""
    if run.agents is not None:
        spec = run.agents
        need = spec.main_context() if role == "main" else spec.sub_context()
        parallel = min(spec.subagents, spec.tasks_per_turn) if role == "sub" else 1
        if role == "main" and run.sub is None:
            need, parallel = max(need, spec.sub_context()), spec.in_flight("load")
        need += 64
    else:
        need = max(p.context_depth + p.gen_tokens for p in run.points) + 16
        parallel = max(max(p.concurrency for p in run.points), 1)
        if any(p.rate and p.concurrency == 0 for p in run.points):
            parallel = max(parallel, 8)  # open loop without a cap: give the batch some room
    opts: dict[str, Any] = {"n_ctx_per_seq": need, "n_parallel": max(1, parallel)}
    if model_path is not None:
        opts["model"] = str(model_path)
    if target.endpoint:
        opts.update(endpoint=target.endpoint, model=target.model_name, api_key=api_key)
    if target.tokenizer:
        opts["tokenizer"] = target.tokenizer
    if target.threads:
        opts["n_threads"] = target.threads
    if target.layout is not None and not target.endpoint:
        opts.update(target.layout.engine_options())
    return opts


def resolve_model_for(ref: ModelRef, engine: str) -> Path:
    """The model of ``ref``: the default synthetic model in the engine's format (MLX engines get an
    MLX copy of it, synthesized once), else :func:`tokbench.bench.suite.resolve_model`."""
    from tokbench.bench.suite import resolve_model
    from tokbench.catalog.engines import ENGINES

    e = ENGINES.get(engine)
    if ref.synth_default and e is not None and e.formats == ("mlx",):
        from tokbench import synth

        gguf = synth.default_model_path()
        out = gguf.parent / gguf.name.replace(".gguf", "").replace(synth.DEFAULT_QUANT, "mlx-4bit")
        if not out.exists():
            synth.synthesize(synth.DEFAULT_SPEC, "mlx-4bit", out, vocab=synth.DEFAULT_SPEC.vocab)
        return out
    return resolve_model(ref)


async def start_target(target: Target, run: RunSpec, stop: asyncio.Event, role: str = "main",
                       api_key: str | None = None) -> Started:
    """Resolve the model (synthesizing it if asked) and start the engine; Stopped on Ctrl-C."""
    from tokbench.engines import registry
    from tokbench.engines.threads import in_daemon_thread

    path = None
    if target.model is not None:
        path = await until_stopped(stop, in_daemon_thread(lambda: resolve_model_for(target.model, target.engine)))
    opts = engine_options(target, run, role, api_key, path)
    engine = registry.create(target.engine, **opts)
    try:
        await until_stopped(stop, engine.start())
    except BaseException:
        await stop_engine(engine, fast=stop.is_set())
        raise
    return Started(target, engine, path, {k: v for k, v in opts.items() if k != "api_key"})


async def start_run(run: RunSpec, stop: asyncio.Event, api_key: str | None) -> list[Started]:
    """Start the run's engines side by side (main, and the sub-agents' own when they have one)."""
    targets = [("main", run.target)] + ([("sub", run.sub)] if run.sub is not None else [])
    results = await asyncio.gather(*(start_target(t, run, stop, role, api_key) for role, t in targets),
                                   return_exceptions=True)
    started = [r for r in results if isinstance(r, Started)]
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        for s in started:
            await stop_engine(s.engine, fast=stop.is_set())
        raise failed[0]
    return started


async def stop_engine(engine, fast: bool = False) -> None:
    """Stop an engine; ``fast`` (after Ctrl-C): a server that has not exited within STOP_WAIT_S is
    killed, so the command ends within a second."""
    if fast and hasattr(engine, "stop_grace_s"):
        engine.stop_grace_s = STOP_WAIT_S
    try:
        await engine.stop()
    except Exception:  # noqa: BLE001 - stopping must never hide what happened before
        kill = getattr(engine, "kill", None)
        if kill is not None:
            kill()


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


def engine_environment(s: Started) -> dict[str, Any]:
    """Engine and version, model file and its header hash (for the run's environment record)."""
    info = s.engine.info()
    ref = s.target.model
    model = {"name": info.model or s.target.label, "label": s.target.label, "quant": ref.quant if ref else None}
    path = s.model_path
    if path is not None and path.exists():
        size = path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        model.update(file=path.name, path=str(path), size_bytes=size, header_sha256=header_hash(path))
    return {"engine": {"name": info.name, "version": info.version, **info.extra}, "model": model}
