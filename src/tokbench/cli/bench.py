"""``tokbench bench``: measure real engines (in-process llama.cpp / MLX, launched servers, or any
OpenAI-compatible endpoint), store every request, print the seed's tables next to the planner.

With no arguments: synthesizes (once, cached) a small model and runs the shipped default suite on
the embedded llama.cpp engine. Workload flags override every workload of the suite; giving
``--concurrency`` or ``--rate`` runs just that sweep (no single-stream point).
"""

from __future__ import annotations

import argparse

ENGINES = ("llama.cpp", "mlx", "llama.cpp-server", "mlx-server", "openai")


def register(subparsers) -> None:
    """Add the ``bench`` command (argparse only: nothing heavy is imported here)."""
    from tokbench.cli.db import add_db_arg

    p = subparsers.add_parser("bench", help="measure an engine (default: the built-in suite on llama.cpp)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", help=f"one of {', '.join(ENGINES)} (default: llama.cpp; openai with --endpoint)")
    p.add_argument("--model", help="model file/dir (in-process and launched servers) or model name (--endpoint)")
    p.add_argument("--endpoint", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")
    p.add_argument("--api-key", help="API key (or TOKBENCH_API_KEY / OPENAI_API_KEY); never stored")
    p.add_argument("--tokenizer", help="local tokenizer (HF dir) for exact prompt lengths over HTTP")
    p.add_argument("--api", choices=("completions", "chat"), help="HTTP API to call (default completions)")
    p.add_argument("--suite", help="suite TOML file or shipped suite name (default, seed)")
    p.add_argument("--concurrency", help="concurrency levels, e.g. 1,2,4,8,16")
    p.add_argument("--rate", type=float, help="open loop: requests per second")
    p.add_argument("--arrival", choices=("constant", "poisson"), help="arrival process for --rate")
    p.add_argument("--requests", type=int, help="measured requests per point")
    p.add_argument("--duration", type=float, help="seconds per point instead of --requests")
    p.add_argument("--gen-tokens", type=int, help="output tokens per request")
    p.add_argument("--context-depth", help="prompt tokens before generation (list allowed: 512,4096)")
    p.add_argument("--repetitions", type=int, help="single-stream repetitions")
    p.add_argument("--warmup", type=int, help="warm-up requests per point (excluded from results)")
    p.add_argument("--slo", help="SLOs for goodput, e.g. ttft_ms=500,tpot_ms=50")
    p.add_argument("--cache-prompt", action="store_true", help="allow servers to reuse cached prompt prefixes")
    p.add_argument("--threads", type=int, help="CPU threads for in-process / launched llama.cpp")
    p.add_argument("--hardware", help="hardware id for the planner's estimates (see `tokbench hw list`)")
    p.add_argument("--name", help="a name for the run")
    p.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run's remaining points")
    p.add_argument("--json", action="store_true", help="print JSON: {run_id, results: [...]}")
    from tokbench.cli.bench_agents import add_agent_args

    add_agent_args(p)  # --workload agents and its flags (tokbench.cli.bench_agents)
    add_db_arg(p)
    p.set_defaults(func=run)


def _int_list(text: str | None, flag: str) -> list[int] | None:
    from tokbench.errors import UserError

    if text is None:
        return None
    try:
        vals = [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{flag} takes integers separated by commas, got '{text}'") from None
    if not vals or any(v < 0 for v in vals) or (flag == "--concurrency" and any(v < 1 for v in vals)):
        raise UserError(f"{flag}: invalid value '{text}'")
    return vals


def parse_slo(text: str | None) -> dict[str, float] | None:
    """``ttft_ms=500,tpot_ms=50`` -> dict (UserError on bad syntax or unknown metric)."""
    from tokbench.errors import UserError, unknown

    if not text:
        return None
    out = {}
    for part in text.split(","):
        key, sep, val = part.partition("=")
        key = key.strip()
        if not sep:
            raise UserError(f"--slo takes NAME=VALUE pairs, got '{part}'")
        if key not in ("ttft_ms", "tpot_ms", "e2e_ms"):
            raise unknown("SLO metric", key, ("ttft_ms", "tpot_ms", "e2e_ms"))
        try:
            out[key] = float(val)
        except ValueError:
            raise UserError(f"--slo {key}: not a number: '{val}'") from None
    return out


def _validate(args) -> None:
    from tokbench.errors import UserError, unknown

    if args.endpoint and not args.engine:
        args.engine = "openai"
    if args.engine and args.engine not in ENGINES:
        raise unknown("engine", args.engine, ENGINES)
    if args.engine == "openai" and not args.endpoint and not args.resume:
        raise UserError("--engine openai needs --endpoint http://host:port/v1")
    for flag in ("requests", "gen_tokens", "repetitions", "threads"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.warmup is not None and args.warmup < 0:
        raise UserError("--warmup must not be negative")
    import math

    for flag in ("duration", "rate"):  # nan passes "<= 0" and inf never ends: both refused
        v = getattr(args, flag)
        if v is not None and (not math.isfinite(v) or v <= 0):
            raise UserError(f"--{flag} must be a positive number, got {v:g}")
    args.slo_dict = parse_slo(args.slo)
    args.concurrency_list = _int_list(args.concurrency, "--concurrency")
    args.depth_list = _int_list(args.context_depth, "--context-depth")
    if args.api_key is None:
        from tokbench.engines.openai_http import api_key_from_env

        args.api_key = api_key_from_env()
    args.model_name = args.model if args.engine == "openai" else None
    if not args.engine and args.model:
        from pathlib import Path

        args.engine = "mlx" if Path(args.model).is_dir() else None  # an MLX model is a directory


def _jobs(args):
    from tokbench.cli.bench_suite import ModelRef, build_jobs, load_suite_file

    doc, source = load_suite_file(args.suite or "default")
    overrides = {"gen_tokens": args.gen_tokens, "requests": args.requests, "duration": args.duration,
                 "warmup": args.warmup, "api": args.api, "repetitions": args.repetitions,
                 "context_depth": args.depth_list, "cache_prompt": True if args.cache_prompt else None}
    if args.depth_list is None and not args.suite and (args.model or args.endpoint):
        overrides["context_depth"] = [4096]  # the seed's "~4K context", unless the default model runs
    keep = ("single", "sweep", "rate")
    if args.concurrency_list and not args.rate:
        overrides["concurrency"] = args.concurrency_list
        keep = ("sweep",)
        if not any(w.get("kind", "sweep") == "sweep" for w in doc.get("workloads", [])):
            overrides["_extra_workloads"] = [{"kind": "sweep", "context_depth": 4096}]
    if args.rate:
        keep = ()
        overrides["_extra_workloads"] = [{"kind": "rate", "rate": args.rate, "arrival": args.arrival or "constant",
                                          "concurrency": args.concurrency_list or [0], "context_depth": 4096}]
    cli_model = args.model if args.engine != "openai" else None
    jobs = build_jobs(doc, overrides, cli_model=cli_model, cli_engine=args.engine, keep_kinds=keep)
    if args.engine == "openai":
        for j in jobs:
            j.model = ModelRef(args.model or "(server default)")
    return jobs, doc.get("suite", {}).get("name", source)


def run(args: argparse.Namespace) -> int:
    """Run ``tokbench bench``."""
    from tokbench.cli import bench_agents
    from tokbench.store import open_store

    if bench_agents.wanted(args):  # --workload agents, or a suite of [[agents]] mixes
        return bench_agents.run(args)
    _validate(args)
    store = open_store(args.db, secrets=[args.api_key] if args.api_key else None)
    with store:
        if args.resume:
            jobs, suite_name, resume_id = _resume(args, store)
        else:
            (jobs, suite_name), resume_id = _jobs(args), None
        return _run_loop(_main(args, store, jobs, suite_name, resume_id))


def _run_loop(coro):
    """Run on uvloop when installed: it halves the client's CPU per streamed token, which is what
    limits how many streams one core can time cleanly (benchmarks/results/client_capacity.md)."""
    import asyncio

    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _resume(args, store):
    from tokbench.cli.bench_run import job_from_config
    from tokbench.errors import UserError

    run_id = store.resolve_run_id(args.resume)
    info = store.get_run(run_id)
    if info.status == "complete":
        raise UserError(f"run {run_id} is complete; nothing to resume")
    if info.status == "running" and not info.stale:  # a live process still writes it: two writers would mix
        raise UserError(f"run {run_id} is still running in another tokbench process; stop it before --resume")
    job = job_from_config(info.config)
    opts = info.config.get("engine_options", {})
    if job.engine == "openai":
        args.endpoint = args.endpoint or opts.get("endpoint")
        args.model_name = args.model_name or opts.get("model")
        args.tokenizer = args.tokenizer or opts.get("tokenizer")
    args.slo_dict = args.slo_dict or info.config.get("slo")
    return [job], info.suite_id or "resume", run_id


async def _main(args, store, jobs, suite_name: str, resume_id: str | None) -> int:
    import time

    from tokbench.cli.bench_run import Runner
    from tokbench.cli.output import console

    con = console(stderr=args.json)
    suite_id = None
    if len(jobs) > 1 and not resume_id:
        suite_id = f"{suite_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    total = sum(p.requests or 0 for j in jobs for p in j.points)
    done: list[tuple] = []
    with _progress(con, total) as advance:
        runner = Runner(store, args, on_record=lambda rec: advance(rec))
        runner.install_signals()
        for job in jobs:
            if runner.stop.is_set():
                break
            run_id, status = await runner.run_job(job, suite_id=suite_id, resume=resume_id)
            done.append((job, run_id, status))
    return _report(args, store, con, done, suite_id)


class _progress:
    """A rich progress bar over measured requests (warm-ups not counted), on stderr."""

    def __init__(self, con, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=con if con.stderr else None, transient=True)
        self.task = self.p.add_task("bench", total=total or None)

    def __enter__(self):
        self.p.start()

        def advance(rec) -> None:
            self.p.update(self.task, description=rec.point)
            if not rec.warmup:
                self.p.advance(self.task)

        return advance

    def __exit__(self, *exc) -> None:
        self.p.stop()


def _report(args, store, con, done, suite_id) -> int:
    from tokbench.cli.bench_table import attach_estimates, planner_estimates, render, render_plan
    from tokbench.cli.output import print_json
    from tokbench.metrics import summarize_run

    hw = _hardware(args)
    docs = []
    for job, run_id, status in done:
        info = store.get_run(run_id)
        rows = summarize_run(store.records(run_id), args.slo_dict)
        model_path = (info.environment.get("model") or {}).get("path")
        attach_estimates(rows, planner_estimates(model_path, job.model.quant, hw, job.engine, rows))
        docs.append({"run_id": run_id, "status": status, "model": job.model.label, "engine": job.engine,
                     "results": rows})
        if not args.json:
            eng = info.environment.get("engine", {})
            render(con, f"{job.model.label} on {eng.get('name', job.engine)} {eng.get('version', '')} "
                        f"- run {run_id} ({status})", rows, job.kinds)
            render_plan(con, _plan_row(model_path, job, hw))
    if args.json:
        print_json(docs[0] if len(docs) == 1 else {"suite_id": suite_id, "runs": docs})
    statuses = {d["status"] for d in docs}
    return 130 if "interrupted" in statuses else 0


def _hardware(args):
    if args.hardware:
        from tokbench.catalog.hardware import get_hardware

        return get_hardware(args.hardware)
    if getattr(args, "endpoint", None):
        return None  # a server elsewhere: this host's hardware says nothing about it; use --hardware
    try:
        from tokbench.env import host_hardware

        return host_hardware()
    except Exception:  # noqa: BLE001 - no probe: no estimates
        return None


def _plan_row(model_path, job, hw):
    if hw is None or model_path is None:
        return None
    try:
        from tokbench.plan import estimate
        from tokbench.modelspec import load_spec

        depth = max(p.context_depth for p in job.points)
        return estimate(load_spec(model_path), job.model.quant, hw,
                        engine="mlx" if job.engine.startswith("mlx") else "llama.cpp", context=depth + 64, depth=depth)
    except Exception:  # noqa: BLE001 - the planner cannot read every model: show no plan
        return None
