"""From the command line's values (:class:`BenchArgs`) to the job: suite, engine, model, points,
hardware and SLOs decided once, with every mistake a user can make as one-line UserError.

Defaults, as ``tokbench bench --help`` states them: no arguments runs the shipped default suite on
the embedded llama.cpp engine; ``--model``/``--endpoint`` without ``--context-depth`` use depth
512 (quick on a CPU; the seed's tables use 4096); ``--concurrency`` or ``--rate`` run just that
sweep. An engine that serves one stream (in-process MLX) gets concurrency 1, and on a machine
without Apple silicon (MLX's CPU backend) smaller defaults still (depth 256, 32 tokens).
"""

from __future__ import annotations

import platform
from dataclasses import replace
from pathlib import Path

from tokbench.bench.job import BenchArgs, BenchJob, ModelRef, RunSpec, Target
from tokbench.bench.suite import load_suite_file, standard_runs, suite_name
from tokbench.errors import UserError

DEFAULT_DEPTH = 512
MLX_CPU_DEPTH, MLX_CPU_GEN = 256, 32


def build_job(a: BenchArgs) -> BenchJob:
    """The job ``tokbench bench`` runs for these arguments (UserError on bad input)."""
    hardware = _hardware_id(a.hardware)
    if a.workload == "agents" or _agent_suite(a.suite):
        if a.rpc or a.split_mode or a.tensor_split or a.topology or a.link or a.split:
            raise UserError("--rpc, --split-mode, --tensor-split, --topology, --link and --split apply to the "
                            "standard workload, not agent mixes")
        from tokbench.bench.agents_job import agent_runs

        runs, name = agent_runs(a)
        return BenchJob(tuple(runs), hardware, a.slo, "agents", name if len(runs) > 1 else None, a.name)
    engine = _engine(a)
    doc, source = load_suite_file(a.suite or "default")
    if doc.get("agents") and not doc.get("workloads"):
        raise UserError(f"suite {source} holds agent mixes: run it with --workload agents")
    overrides, keep, extra = _workload_overrides(a, engine)
    if extra and keep and any(w.get("kind", "sweep") in keep for w in doc.get("workloads", [])):
        extra = []  # the suite's own sweep takes the flags
    runs = standard_runs(doc, overrides, _targets(a, engine), keep, extra)
    runs = [_check_streams(r) for r in runs]
    return BenchJob(tuple(runs), hardware, a.slo, "standard", suite_name(doc, source) if len(runs) > 1 else None,
                    a.name)


def _hardware_id(text: str | None) -> str | None:
    if not text:
        return None
    from tokbench.catalog.hardware import get_hardware

    return get_hardware(text).id


def _agent_suite(suite: str | None) -> bool:
    if not suite:
        return False
    doc, _ = load_suite_file(suite)
    return bool(doc.get("agents")) and not doc.get("workloads")


def _engine(a: BenchArgs) -> str | None:
    """The bench engine named by --engine / implied by --endpoint or an MLX model dir."""
    from tokbench.catalog.engines import get_bench_engine

    if a.engine:
        eng = get_bench_engine(a.engine)
        if eng.endpoint_only and not a.endpoint:
            raise UserError(f"--engine {eng.name} needs --endpoint http://host:port/v1 (a server you run)")
        if a.endpoint and not eng.endpoint_only:
            raise UserError(f"--endpoint is for a server you run; --engine {eng.name} starts its own: drop one "
                            f"(with --endpoint, --engine names the server: openai, vllm, sglang, ollama ...)")
        return eng.name
    if a.endpoint:
        return "openai"
    from tokbench.bench.layout import LAUNCHER, wants_launcher

    if wants_launcher(a):
        return LAUNCHER  # --rpc / --split-mode: tokbench launches llama.cpp's server over the devices
    if a.model and Path(a.model).is_dir():
        return "mlx"  # an MLX model is a directory
    return None


def _streams(engine: str | None) -> int | None:
    from tokbench.catalog.engines import ENGINES

    e = ENGINES.get(engine or "")
    return e.streams if e else None


def _workload_overrides(a: BenchArgs, engine: str | None) -> tuple[dict, tuple[str, ...], list[dict]]:
    """CLI flags over every workload, the workload kinds kept, and workloads the flags add."""
    one = _streams(engine) == 1
    mlx_cpu = one and platform.system() != "Darwin"
    depth = list(a.context_depth) if a.context_depth else None
    if depth is None and (a.model or a.endpoint):
        depth = [MLX_CPU_DEPTH if mlx_cpu else DEFAULT_DEPTH]
    elif depth is None and mlx_cpu:
        depth = [MLX_CPU_DEPTH]
    over = {"gen_tokens": a.gen_tokens or (MLX_CPU_GEN if mlx_cpu else None), "requests": a.requests,
            "duration": a.duration, "warmup": a.warmup, "api": a.api, "repetitions": a.repetitions,
            "context_depth": depth, "cache_prompt": True if a.cache_prompt else None,
            "timeout_s": a.timeout}
    if a.suite and not a.context_depth:
        over["context_depth"] = None  # a suite's own depths stand unless the flag says otherwise
    keep, extra = ("single", "sweep", "rate"), []
    if one and a.concurrency is None and not a.rate:
        over["concurrency"] = [1]
    if a.concurrency and not a.rate:
        over["concurrency"] = list(a.concurrency)
        keep = ("sweep",)
        extra = [{"kind": "sweep", "context_depth": depth or [DEFAULT_DEPTH]}]
    if a.rate:
        keep = ()
        extra = [{"kind": "rate", "rate": a.rate, "arrival": a.arrival or "constant",
                  "concurrency": list(a.concurrency or [0]), "context_depth": depth or [DEFAULT_DEPTH]}]
    return over, keep, extra


def _targets(a: BenchArgs, engine: str | None):
    """The command line's model / endpoint / engine over the suite's (None: the suite's own)."""
    from tokbench.bench.layout import build_layout

    layout = build_layout(a, engine)
    if not (a.model or a.endpoint or engine or a.threads or a.tokenizer):
        return None
    if a.plan:
        model, _, quant = a.plan.rpartition(":")
        if not model or not quant:
            raise UserError(f"--plan takes MODEL:QUANT (e.g. llama-3.1-8b:Q4_K_M), got '{a.plan}'")

    def pick(pairs):
        if a.endpoint:
            t = Target(engine or "openai", endpoint=a.endpoint, model_name=a.model, tokenizer=a.tokenizer, plan=a.plan,
                       layout=layout)
            return [(t, None)]
        out = []
        for t, names in pairs[:1] if a.model else pairs:
            model = ModelRef(Path(a.model).name, path=a.model) if a.model else t.model
            out.append((Target(engine or t.engine, model=model, threads=a.threads, tokenizer=a.tokenizer, plan=a.plan,
                               layout=layout),
                        None if a.model else names))
        return out

    return pick


def _check_streams(run: RunSpec) -> RunSpec:
    """A one-stream engine asked for concurrency: say what works (one line)."""
    from tokbench.catalog.engines import ENGINES

    e = ENGINES.get(run.target.engine)
    if e is None or e.streams is None:
        return run
    over = sorted({p.concurrency for p in run.points if p.concurrency > e.streams})
    if over:
        server = f"{e.name}-server" if f"{e.name}-server" in ENGINES else "a server engine"
        raise UserError(f"engine '{e.name}' runs {e.streams} stream at a time: use --concurrency {e.streams} "
                        f"(or --engine {server} to measure concurrency {over[0]})")
    rate = [p for p in run.points if p.rate and p.concurrency == 0]
    if rate:  # an open loop on a one-stream engine: cap in-flight requests at what it serves
        run = replace(run, points=tuple(replace(p, concurrency=e.streams) if p in rate else p for p in run.points))
    return run
