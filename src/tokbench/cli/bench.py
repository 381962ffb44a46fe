"""``tokbench bench``: measure real engines (in-process llama.cpp / MLX, launched servers, or any
OpenAI-compatible endpoint), store every request, print the seed's tables next to the planner.

This module only parses and renders: the command line becomes a frozen job
(tokbench.bench.build), the job runs through the one pipeline (tokbench.bench.lifecycle), and the
stored runs come back as one results document (tokbench.report.results) printed as tables or JSON.
"""

from __future__ import annotations

import argparse

DESCRIPTION = """Measure an engine. With no arguments: a small synthetic model (synthesized once, cached) on the
embedded llama.cpp engine: single stream at depth 1024, then 1 and 8 concurrent requests at depth 256.
--concurrency or --rate run just that sweep; --suite FILE|NAME runs a matrix as one job (its id is printed;
--resume ID finishes it whole)."""


def register(subparsers) -> None:
    """Add the ``bench`` command (argparse only: nothing heavy is imported here)."""
    from tokbench.catalog.engines import bench_engines
    from tokbench.cli.db import add_db_arg

    p = subparsers.add_parser("bench", help="measure an engine (default: the built-in suite on llama.cpp)",
                              description=DESCRIPTION)
    p.add_argument("--engine", help=f"one of {', '.join(bench_engines())} (default: llama.cpp; openai with "
                                    "--endpoint, which then names the server for the planner; mlx for an MLX dir)")
    p.add_argument("--model", help="model file/dir (in-process and launched engines; default: the synthetic "
                                   "default model) or the model's name at --endpoint (default: the server's first)")
    p.add_argument("--endpoint", help="OpenAI-compatible base URL of a server you run, e.g. "
                                      "http://127.0.0.1:8080/v1 (default: none; tokbench runs the engine itself)")
    p.add_argument("--api-key", help="API key (default: TOKBENCH_API_KEY or OPENAI_API_KEY); never stored")
    p.add_argument("--tokenizer", help="local tokenizer (HF dir) for exact prompt lengths over HTTP (default: "
                                       "the server's tokenize endpoint, else its usage counts)")
    p.add_argument("--api", choices=("completions", "chat"), help="HTTP API to call (default: completions)")
    p.add_argument("--suite", help="suite TOML file or shipped suite name: default, seed, agents (default: default)")
    p.add_argument("--concurrency", help="concurrency levels, e.g. 1,2,4,8,16 (default: the suite's: 1,8; "
                                         "1 for one-stream engines such as mlx)")
    p.add_argument("--rate", type=float, help="open loop: requests per second (default: closed loop)")
    p.add_argument("--arrival", choices=("constant", "poisson"), help="arrival process for --rate (default: constant)")
    p.add_argument("--requests", type=int, help="measured requests per point (default: 2 per stream; 3 single-stream)")
    p.add_argument("--duration", type=float, help="seconds per point instead of --requests (default: off)")
    p.add_argument("--gen-tokens", type=int, help="output tokens per request (default: 64; 32 for mlx on a CPU)")
    p.add_argument("--context-depth", help="prompt tokens before generation, list allowed: 512,4096 (default: the "
                                           "suite's 1024 single / 256 sweep; 512 with --model or --endpoint, "
                                           "256 for mlx on a CPU)")
    p.add_argument("--repetitions", type=int, help="single-stream repetitions (default: 3)")
    p.add_argument("--warmup", type=int, help="warm-up requests per point, not measured (default: 1)")
    p.add_argument("--timeout", type=float, help="seconds one request may take (default: 600)")
    p.add_argument("--slo", help="SLOs for goodput, e.g. ttft_ms=500,tpot_ms=50 (default: none)")
    p.add_argument("--cache-prompt", action="store_true", help="let servers reuse cached prompt prefixes (default: off)")
    p.add_argument("--threads", type=int, help="CPU threads for in-process / launched llama.cpp (default: cores - 1)")
    p.add_argument("--hardware", help="hardware id the planner assumes (see `tokbench hw list`; default: this host "
                                      "when it is in the catalog; none for --endpoint)")
    p.add_argument("--plan", metavar="MODEL:QUANT", help="what the planner assumes the endpoint serves, e.g. "
                                                         "llama-3.1-8b:Q4_K_M (default: the model file when it is here)")
    p.add_argument("--rpc", type=int, metavar="N", help="llama.cpp RPC: start N rpc-servers on loopback and spread "
                   "the model over them and this process (engine llama.cpp-server; scripts/build_rpc builds them; default: none)")
    p.add_argument("--split-mode", help="llama.cpp -sm over this machine's GPUs: layer, row, tensor "
                   "(engine llama.cpp-server; row is refused on CUDA by llama.cpp of llama-cpp-python 0.3.36; default: "
                   "llama.cpp's own, layer)")
    p.add_argument("--tensor-split", help="llama.cpp -ts proportions per device, e.g. 3,1 (default: by memory)")
    p.add_argument("--topology", help="what a server you run spans, as plan spells a cluster: '2x m3-ultra-80c:512' "
                   "or 'm3-ultra-80c:512+m3-ultra-80c:256' (exo, MLX distributed, vLLM ...); stored with the run "
                   "(default: one machine)")
    p.add_argument("--link", help="the cluster's link (plan's ids: tb5-rdma, 10gbe, nvlink ...; default: loopback for --rpc)")
    p.add_argument("--split", help="the cluster's split: pipeline, tensor, expert (default: from --split-mode; "
                   "pipeline for --rpc)")
    p.add_argument("--name", help="a name for the run (default: none)")
    p.add_argument("--resume", metavar="ID", help="finish an interrupted run, or every run of a suite id")
    p.add_argument("--json", action="store_true", help="print the results document as JSON")
    from tokbench.cli.bench_agents import add_agent_args

    add_agent_args(p)  # --workload agents and its flags
    add_db_arg(p)
    p.set_defaults(func=run)


def _int_list(text: str | None, flag: str) -> tuple[int, ...] | None:
    from tokbench.errors import UserError

    if text is None:
        return None
    try:
        vals = tuple(int(x) for x in str(text).split(",") if x.strip())
    except ValueError:
        raise UserError(f"{flag} takes integers separated by commas, got '{text}'") from None
    if not vals or any(v < 0 for v in vals) or (flag == "--concurrency" and any(v < 1 for v in vals)):
        raise UserError(f"{flag}: invalid value '{text}'")
    return vals


def parse_slo(text: str | None) -> tuple[tuple[str, float], ...]:
    """``ttft_ms=500,tpot_ms=50`` -> pairs (UserError on bad syntax or unknown metric)."""
    import math

    from tokbench.errors import UserError, unknown
    from tokbench.metrics.summary import SLO_KEYS

    if not text:
        return ()
    out = []
    for part in text.split(","):
        key, sep, val = part.partition("=")
        key = key.strip()
        if not sep:
            raise UserError(f"--slo takes NAME=VALUE pairs, got '{part}'")
        if key not in SLO_KEYS:
            raise unknown("SLO metric", key, SLO_KEYS)
        try:
            v = float(val)
        except ValueError:
            raise UserError(f"--slo {key}: not a number: '{val}'") from None
        if not math.isfinite(v) or v <= 0:
            raise UserError(f"--slo {key} must be a positive number, got '{val}'")
        out.append((key, v))
    return tuple(out)


def bench_args(args: argparse.Namespace):
    """The command line as plain values (every value a user can get wrong checked here: one line)."""
    import math

    from tokbench.bench.job import BenchArgs
    from tokbench.cli.bench_agents import agent_overrides, check_agent_args
    from tokbench.errors import UserError

    for flag in ("requests", "gen_tokens", "repetitions", "threads"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.warmup is not None and args.warmup < 0:
        raise UserError("--warmup must not be negative")
    for flag in ("duration", "rate", "timeout"):  # nan passes "<= 0" and inf never ends: both refused
        v = getattr(args, flag)
        if v is not None and (not math.isfinite(v) or v <= 0):
            raise UserError(f"--{flag} must be a positive number, got {v:g}")
    if args.endpoint and not args.endpoint.startswith(("http://", "https://")):
        raise UserError(f"--endpoint must be an http(s) URL like http://127.0.0.1:8080/v1, got '{args.endpoint}'")
    check_agent_args(args)
    if args.rpc is not None and not 1 <= args.rpc <= 16:
        raise UserError(f"--rpc takes 1 to 16 rpc-servers, got {args.rpc}")
    from tokbench.bench.layout import parse_tensor_split

    return BenchArgs(
        engine=args.engine, model=args.model, endpoint=args.endpoint, tokenizer=args.tokenizer, api=args.api,
        suite=args.suite, concurrency=_int_list(args.concurrency, "--concurrency"), rate=args.rate,
        arrival=args.arrival, requests=args.requests, duration=args.duration, gen_tokens=args.gen_tokens,
        context_depth=_int_list(args.context_depth, "--context-depth"), repetitions=args.repetitions,
        warmup=args.warmup, timeout=args.timeout, slo=parse_slo(args.slo), cache_prompt=args.cache_prompt,
        threads=args.threads, hardware=args.hardware, name=args.name, workload=args.workload,
        agents=agent_overrides(args), main_endpoint=args.main_endpoint, main_model=args.main_model,
        sub_endpoint=args.sub_endpoint, sub_model=args.sub_model, sub_engine=args.sub_engine,
        sub_tokenizer=args.sub_tokenizer, main_plan=args.main_plan or args.plan, sub_plan=args.sub_plan, plan=args.plan,
        rpc=args.rpc, split_mode=args.split_mode, tensor_split=parse_tensor_split(args.tensor_split),
        topology=args.topology, link=args.link, split=args.split)


def run(args: argparse.Namespace) -> int:
    """Run ``tokbench bench``."""
    from tokbench.store import open_store

    api_key = args.api_key
    if api_key is None:
        from tokbench.engines.openai_http import api_key_from_env

        api_key = api_key_from_env()
    if not args.resume:
        from tokbench.bench.build import build_job

        job, resume = build_job(bench_args(args)), None
    store = open_store(args.db, secrets=[api_key] if api_key else None)
    with store:
        if args.resume:
            from tokbench.bench.lifecycle import load_resume

            resume = load_resume(store, args.resume)
            job = resume.job
        from tokbench.bench.start import preload

        preload(job)
        rc = _run_loop(_main(args, store, job, resume, api_key))
    if rc == 130:
        _exit_now(rc)
    return rc


def _exit_now(code: int) -> None:
    """End the process at once after Ctrl-C (everything is stored and printed by now): the
    interpreter's own shutdown collects every object first, 0.5-1 s on a busy 2-core machine, and
    the user asked to stop within a second."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run_loop(coro):
    """Run on uvloop when installed: it halves the client's CPU per streamed token, which is what
    limits how many streams one core can time cleanly (benchmarks/results/client_capacity.md)."""
    import asyncio

    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


async def _main(args, store, job, resume, api_key) -> int:
    from tokbench.bench.lifecycle import Pipeline, planner_hardware
    from tokbench.cli.bench_render import TerminalEvents, render_document
    from tokbench.cli.output import console, print_json
    from tokbench.report.results import bench_document

    con = console(stderr=args.json)
    with TerminalEvents(con, job) as events:
        pipe = Pipeline(job, store, events, api_key)
        pipe.install_signals()
        outcome = await pipe.run(resume)
    ran = [r for r in outcome.runs if r.run_id]
    hardware = {} if outcome.interrupted else {r.run_id: planner_hardware(job, r.spec) for r in ran}
    doc = bench_document(store, [r.run_id for r in ran], outcome.suite_id, hardware, job.slo_dict,
                         outcome.interrupted)
    if args.json:
        print_json(doc.to_dict())
    else:
        render_document(con, doc, outcome)
    return 130 if outcome.interrupted or doc.status == "interrupted" else 0
