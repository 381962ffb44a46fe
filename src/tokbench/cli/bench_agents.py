"""``tokbench bench --workload agents``: a main coding agent with sub-agents, one run per agent mix.

The mix comes from ``[[agents]]`` tables of a suite (the shipped ``agents`` suite by default: the
synthetic default model served twice, side by side) with CLI flags on top. The main side is
``--main-endpoint/--main-model`` (or ``--endpoint/--model``, or a model file launched with
``--engine``); the sub-agent side is ``--sub-endpoint/--sub-model``, or a model file launched with
``--sub-engine`` (default: the main's engine); with neither, sub-agents share the main's engine.
Nothing heavy is imported at module level (``bench`` registers these flags at start-up).

Suite format (every workload key of :class:`tokbench.loadgen.agents.AgentSpec` allowed)::

    [[agents]]
    name = "coder + 2 subs"
    turns = 4
    subagents = 2
    prefix_cache = ["on", "off"]
    [agents.main]            # engine + one of: synth = "default" | path | spec + quant | endpoint + model
    engine = "llama.cpp-server"
    synth = "default"
    [agents.sub]             # omitted: sub-agents share the main's engine
    engine = "llama.cpp-server"
    path = "sub.gguf"
    plan = "qwen2.5-7b:Q4_K_M"   # what the planner assumes for an endpoint or an unreadable model
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields, replace
from typing import Any

_SPEC_FLAGS = {"turns": "turns", "subagents": "subagents", "tasks_per_turn": "tasks_per_turn",
               "system_tokens": "system_tokens", "user_tokens": "user_tokens", "gen_tokens": "main_gen_tokens",
               "sub_system_tokens": "sub_system_tokens", "sub_prompt_tokens": "sub_prompt_tokens",
               "sub_gen_tokens": "sub_gen_tokens", "dispatch": "dispatch", "warmup": "warmup", "api": "api"}


def add_agent_args(p) -> None:
    """Add the agent workload's flags to the ``bench`` parser (argparse only)."""
    g = p.add_argument_group("agent workload (--workload agents)")
    g.add_argument("--workload", choices=("standard", "agents"), default="standard",
                   help="agents: a main agent's growing session with sub-agents beside it")
    g.add_argument("--main-endpoint", help="main agent's OpenAI-compatible URL (default: --endpoint)")
    g.add_argument("--main-model", help="main agent's model: name at its endpoint, else a file to launch")
    g.add_argument("--sub-endpoint", help="sub-agents' OpenAI-compatible URL")
    g.add_argument("--sub-model", help="sub-agents' model: name at --sub-endpoint, else a file to launch")
    g.add_argument("--sub-engine", help="engine launching --sub-model (default: the main's engine)")
    g.add_argument("--sub-tokenizer", help="local tokenizer for the sub-agents' endpoint")
    g.add_argument("--turns", type=int, help="main agent turns")
    g.add_argument("--subagents", type=int, help="sub-agent tasks in flight at once")
    g.add_argument("--tasks-per-turn", type=int,
                   help="sub-agent tasks each main turn dispatches (default: --subagents)")
    g.add_argument("--system-tokens", type=int, help="main agent's shared system prompt tokens")
    g.add_argument("--user-tokens", type=int, help="tokens each main turn appends as the new user message")
    g.add_argument("--sub-system-tokens", type=int, help="sub-agents' shared system prompt tokens (0: none)")
    g.add_argument("--sub-prompt-tokens", type=int, help="tokens of each sub-agent task")
    g.add_argument("--sub-gen-tokens", type=int, help="output tokens of each sub-agent task")
    g.add_argument("--prefix-cache", choices=("on", "off", "both"), help="prefix cache modes to run (default both)")
    g.add_argument("--dispatch", choices=("with", "after"),
                   help="sub-agent tasks start with their main turn (default) or after its answer")
    g.add_argument("--no-baseline", action="store_true", help="skip the main-agent-alone phase")
    g.add_argument("--main-plan", metavar="MODEL:QUANT", help="what the planner assumes for the main model")
    g.add_argument("--sub-plan", metavar="MODEL:QUANT", help="what the planner assumes for the sub-agent model")


def wanted(args) -> bool:
    """True when this invocation is an agent workload (flag, suite with [[agents]], or its --resume)."""
    from tokbench.errors import UserError

    if getattr(args, "workload", "standard") == "agents":
        return True
    if getattr(args, "resume", None):
        from tokbench.store import open_store

        with open_store(args.db) as store:
            config = store.get_run(store.resolve_run_id(args.resume)).config
        if config.get("workload") == "agents":
            raise UserError("agent runs cannot be resumed (the session's context is gone); run the workload again")
        return False
    if getattr(args, "suite", None):
        from tokbench.cli.bench_suite import load_suite_file

        return bool(load_suite_file(args.suite)[0].get("agents"))
    return False


@dataclass
class Side:
    """Where one role's requests go: an endpoint, or a model an engine loads or launches."""

    role: str
    engine: str | None = None
    ref: Any = None  # bench_suite.ModelRef for a model to load/launch
    endpoint: str | None = None
    model_name: str | None = None
    tokenizer: str | None = None
    plan: str | None = None  # MODEL:QUANT for the planner
    shared: bool = False  # the sub-agents use the main's engine


@dataclass
class AgentJob:
    """One agent mix: one stored run."""

    name: str
    spec: Any  # loadgen.agents.AgentSpec
    main: Side
    sub: Side
    extra: dict = field(default_factory=dict)


def _side(role: str, t: dict | None) -> Side:
    from pathlib import Path

    from tokbench.cli.bench_suite import ModelRef
    from tokbench.errors import UserError

    if t is None:
        return Side(role, shared=True)
    s = Side(role, engine=t.get("engine"), tokenizer=t.get("tokenizer"), plan=t.get("plan"))
    if t.get("endpoint"):
        s.engine, s.endpoint, s.model_name = "openai", t["endpoint"], t.get("model")
    elif t.get("synth") == "default":
        s.ref = ModelRef("tokbench-default", synth_default=True)
    elif t.get("path"):
        s.ref = ModelRef(Path(t["path"]).name, path=t["path"])
    elif t.get("spec"):
        s.ref = ModelRef(f"{t['spec']} {t.get('quant', 'Q4_K_M')}", spec=t["spec"], quant=t.get("quant", "Q4_K_M"),
                         scale_layers=t.get("scale_layers"), scale_width=t.get("scale_width"))
    else:
        raise UserError(f"suite: [agents.{role}] needs endpoint, synth = \"default\", path or spec")
    s.engine = s.engine or "llama.cpp-server"
    return s


def _spec(table: dict, args) -> Any:
    from tokbench.errors import UserError
    from tokbench.loadgen.agents import AgentSpec

    names = {f.name for f in fields(AgentSpec)}
    unknown_keys = [k for k in table if k not in names and k not in ("name", "main", "sub")]
    if unknown_keys:
        from tokbench.errors import unknown

        raise unknown("agents key", unknown_keys[0], names | {"name", "main", "sub"})
    try:
        spec = AgentSpec(**{k: v for k, v in table.items() if k in names})
    except TypeError as exc:
        raise UserError(f"suite: [[agents]]: {exc}") from None
    over = {dst: getattr(args, src) for src, dst in _SPEC_FLAGS.items() if getattr(args, src, None) is not None}
    if getattr(args, "prefix_cache", None):
        over["prefix_cache"] = ("on", "off") if args.prefix_cache == "both" else (args.prefix_cache,)
    if getattr(args, "no_baseline", False):
        over["baseline"] = False
    if "subagents" in over and "tasks_per_turn" not in over and getattr(args, "tasks_per_turn", None) is None:
        over["tasks_per_turn"] = over["subagents"]
    return replace(spec, **over).validate()


def _cli_sides(args, main: Side, sub: Side) -> tuple[Side, Side]:
    """Apply --main-*/--sub-*/--endpoint/--model/--engine on top of the suite's sides."""
    from tokbench.cli.bench_suite import ModelRef
    from tokbench.errors import UserError

    endpoint, model = args.main_endpoint or args.endpoint, args.main_model or args.model
    if endpoint:
        main = Side("main", "openai", endpoint=endpoint, model_name=model, tokenizer=args.tokenizer)
    elif model:
        ref = ModelRef(model.rsplit("/", 1)[-1], path=model)
        main = Side("main", args.engine or main.engine or "llama.cpp-server", ref=ref)
    elif args.engine:
        main = replace(main, engine=args.engine)
    if main.engine == "openai" and not main.endpoint:
        raise UserError("the main agent's engine openai needs --main-endpoint (or --endpoint)")
    if args.sub_endpoint:
        sub = Side("sub", "openai", endpoint=args.sub_endpoint, model_name=args.sub_model, tokenizer=args.sub_tokenizer)
    elif args.sub_model:
        eng = args.sub_engine or (main.engine if main.engine != "openai" else "llama.cpp-server")
        sub = Side("sub", eng, ref=ModelRef(args.sub_model.rsplit("/", 1)[-1], path=args.sub_model))
    elif endpoint or model:
        sub = Side("sub", shared=True)  # a main given on the command line replaces the suite's pair
    elif args.sub_engine and not sub.shared:
        sub = replace(sub, engine=args.sub_engine)
    main.plan = args.main_plan or main.plan
    sub.plan = args.sub_plan or sub.plan
    return main, sub


def build_agent_jobs(args) -> list[AgentJob]:
    """The agent mixes to run: the suite's [[agents]] tables (shipped ``agents`` suite by default) + flags."""
    from tokbench.cli.bench_suite import load_suite_file
    from tokbench.errors import UserError

    doc, source = load_suite_file(args.suite or "agents")
    tables = doc.get("agents") or []
    if not tables:
        raise UserError(f"suite {source} has no [[agents]] tables")
    if doc.get("workloads"):
        raise UserError(f"suite {source} mixes [[workloads]] and [[agents]]: put agent mixes in a suite of their own")
    jobs = []
    for i, t in enumerate(tables):
        if not isinstance(t, dict):
            raise UserError(f"suite {source}: [[agents]] entries must be tables")
        main, sub = _cli_sides(args, _side("main", t.get("main") or {"synth": "default"}), _side("sub", t.get("sub")))
        jobs.append(AgentJob(t.get("name") or f"agents #{i + 1}", _spec(t, args), main, sub))
    return jobs


def run(args: argparse.Namespace) -> int:
    """Run every agent mix, store it, print (or --json) its tables beside the planner's view."""
    import asyncio

    from tokbench.store import open_store

    _check(args)
    jobs = build_agent_jobs(args)
    store = open_store(args.db, secrets=[args.api_key] if args.api_key else None)
    with store:
        return asyncio.run(_main(args, store, jobs))


def _check(args) -> None:
    """Flag values a user can get wrong: one line each (UserError)."""
    from tokbench.cli.bench import ENGINES
    from tokbench.errors import UserError, unknown

    for flag in ("engine", "sub_engine"):
        v = getattr(args, flag, None)
        if v and v not in ENGINES:
            raise unknown("engine", v, ENGINES)
    for flag in ("turns", "gen_tokens", "system_tokens", "user_tokens", "sub_prompt_tokens", "sub_gen_tokens",
                 "threads"):
        v = getattr(args, flag, None)
        if v is not None and v < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be at least 1")
    for flag in ("subagents", "tasks_per_turn", "sub_system_tokens", "warmup"):
        v = getattr(args, flag, None)
        if v is not None and v < 0:
            raise UserError(f"--{flag.replace('_', '-')} must not be negative")
    if args.sub_model and args.sub_endpoint is None and args.sub_engine == "openai":
        raise UserError("--sub-engine openai needs --sub-endpoint")
    if args.api_key is None:
        from tokbench.engines.openai_http import api_key_from_env

        args.api_key = api_key_from_env()


async def _main(args, store, jobs: list[AgentJob]) -> int:
    import time

    from tokbench.cli.bench_run import Runner
    from tokbench.cli.output import console

    con = console(stderr=args.json)
    runner = Runner(store, args)
    runner.install_signals()
    suite_id = f"agents-{time.strftime('%Y%m%d-%H%M%S')}" if len(jobs) > 1 else None
    done = []
    for job in jobs:
        if runner.stop.is_set():
            break
        done.append(await _run_job(args, store, runner, job, suite_id))
    return report(args, store, con, done, suite_id)


def engine_opts(side: Side, job: AgentJob, args, model_path) -> dict:
    """Factory options for one side's engine, sized for the roles it serves."""
    spec = job.spec
    need = spec.main_context() if side.role == "main" else spec.sub_context()
    parallel = min(spec.subagents, spec.tasks_per_turn) if side.role == "sub" else 1
    if side.role == "main" and job.sub.shared:
        need, parallel = max(need, spec.sub_context()), spec.in_flight("load")
    opts: dict[str, Any] = {"n_ctx_per_seq": need + 64, "n_parallel": max(1, parallel)}
    if side.engine == "openai":
        opts.update(endpoint=side.endpoint, model=side.model_name, api_key=args.api_key, tokenizer=side.tokenizer)
    else:
        opts["model"] = str(model_path)
    if getattr(args, "threads", None):
        opts["n_threads"] = args.threads
    return opts


async def _start(side: Side, job: AgentJob, args):
    from tokbench.cli.bench_suite import resolve_model
    from tokbench.engines import registry

    path = resolve_model(side.ref) if side.ref is not None else None
    opts = engine_opts(side, job, args, path)
    engine = registry.create(side.engine, **opts)
    await engine.start()
    return engine, path, {k: v for k, v in opts.items() if k != "api_key"}


async def _run_job(args, store, runner, job: AgentJob, suite_id: str | None) -> tuple:
    """Start both engines (side by side), run the session, store records and phase metadata."""
    import asyncio

    from tokbench.cli.bench_run import environment
    from tokbench.loadgen.agents import AgentRunner, summarize_agents

    sides = [job.main] + ([] if job.sub.shared else [job.sub])
    started = await asyncio.gather(*(_start(s, job, args) for s in sides), return_exceptions=True)
    engines = [x[0] for x in started if not isinstance(x, BaseException)]
    failed = [x for x in started if isinstance(x, BaseException)]
    if failed:
        for e in engines:
            await e.stop()
        raise failed[0]
    (main, main_path, main_opts) = started[0]
    (sub, sub_path, sub_opts) = started[1] if len(started) > 1 else (main, main_path, main_opts)
    run_id = None
    try:
        env = environment(main, main_path, job.main.ref or _name_ref(job.main))
        if not job.sub.shared:
            sub_env = environment(sub, sub_path, job.sub.ref or _name_ref(job.sub))
            env["sub"] = {"engine": sub_env["engine"], "model": sub_env["model"]}
        config = {"workload": "agents", "name": job.name, "agents": job.spec.to_dict(),
                  "engine": job.main.engine, "engine_options": main_opts,
                  "sub": {"shared": job.sub.shared, "engine": job.sub.engine, "engine_options": sub_opts},
                  "kinds": {}}
        run_id = store.create_run("bench", config, env, suite_id=suite_id, name=getattr(args, "name", None) or job.name)
        agent = AgentRunner(main, sub, job.spec, lambda rec: store.add_record(run_id, rec), runner.stop)
        result = await agent.run()
        for point, meta in result.meta.items():
            store.set_point_meta(run_id, point, meta)
        status = "interrupted" if result.interrupted else "complete"
        summary = summarize_agents(result.records, result.meta)
        plan = _plan(job, args, main_path, sub_path)
        # Not under a "summary" key: that name marks an imported run's stored per-point summaries.
        store.set_point_meta(run_id, "agents summary", {"kind": "agents-summary", "agents": summary, "plan": plan})
        store.finish_run(run_id, status)
        return job, run_id, status, summary, plan
    except BaseException as exc:
        if run_id is not None:
            store.finish_run(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        for e in engines:
            await e.stop()


def _name_ref(side: Side):
    from tokbench.cli.bench_suite import ModelRef

    return ModelRef(side.model_name or "(server default)")


def _plan(job: AgentJob, args, main_path, sub_path) -> dict | None:
    """The planner's view of the mix, or {"error": why} when a model or the hardware is unknown."""
    hw = hardware(args)
    if hw is None:
        return {"error": "hardware unknown: pass --hardware ID (see `tokbench hw list`)"}
    spec = job.spec
    main_prompts = [spec.main_prompt_tokens(t) for t in range(1, spec.turns + 1)]
    main_depth = round(sum(main_prompts) / len(main_prompts) + spec.main_gen_tokens / 2)
    sub_depth = spec.sub_system_tokens + spec.sub_prompt_tokens + spec.sub_gen_tokens // 2
    try:
        from tokbench.plan.agents import AgentModel, plan_agents

        models = [AgentModel("main", *_plan_model(job.main, main_path), context=spec.main_context(), depth=main_depth,
                             server="main")]
        if spec.tasks_per_turn:
            sub_side, path = (job.main, main_path) if job.sub.shared else (job.sub, sub_path)
            models.append(AgentModel("sub", *_plan_model(sub_side, path), context=spec.sub_context(), depth=sub_depth,
                                     concurrency=min(spec.subagents, spec.tasks_per_turn),
                                     server="main" if job.sub.shared else "sub"))
        return plan_agents(models, hw)
    except Exception as exc:  # noqa: BLE001 - a model the planner cannot read: say so beside the measurement
        return {"error": f"planner: {exc}"}


def _plan_model(side: Side, path) -> tuple:
    """(spec, quant, engine) for the planner: --*-plan MODEL:QUANT, else the model file itself."""
    from tokbench.errors import UserError

    engine = "mlx" if (side.engine or "").startswith("mlx") else "llama.cpp"
    if side.plan:
        model, _, quant = side.plan.rpartition(":")
        if not model:
            raise UserError(f"--{side.role}-plan '{side.plan}': use MODEL:QUANT")
        return model, quant, engine
    if path is None:
        raise UserError(f"{side.role} model behind an endpoint: pass --{side.role}-plan MODEL:QUANT")
    from tokbench.modelspec import load_spec

    quant = side.ref.quant if side.ref is not None and side.ref.quant else None
    return load_spec(str(path)), quant, engine


# ---- output ----------------------------------------------------------------------------------------
def hardware(args):
    """--hardware, else this host when tokbench.env recognizes it; None when neither works."""
    try:
        if getattr(args, "hardware", None):
            from tokbench.catalog.hardware import get_hardware

            return get_hardware(args.hardware)
        from tokbench.env import host_hardware

        return host_hardware()
    except Exception:  # noqa: BLE001 - unknown hardware: the measurement is shown without the planner
        return None


def report(args, store, con, done: list[tuple], suite_id: str | None) -> int:
    """Print each run's agent tables (or one JSON document); exit 130 when a run was interrupted."""
    from tokbench.cli.output import print_json
    from tokbench.metrics import summarize_run

    docs = []
    for job, run_id, status, summary, plan in done:
        docs.append({"run_id": run_id, "status": status, "workload": "agents", "name": job.name,
                     "agents_config": job.spec.to_dict(), "results": summarize_run(store.records(run_id)),
                     "agents": summary, "plan": plan, "beside_plan": beside_plan(summary, plan)})
        if not args.json:
            render(con, f"{job.name} - run {run_id} ({status})", summary, plan)
    if args.json:
        print_json(docs[0] if len(docs) == 1 else {"suite_id": suite_id, "runs": docs})
    return 130 if any(d["status"] == "interrupted" for d in docs) else 0


def beside_plan(summary: dict, plan: dict | None) -> list[dict]:
    """Measured decode tok/s next to the planner's, per role: alone and under load (first cache mode)."""
    roles = (plan or {}).get("roles") or {}
    modes = summary.get("modes") or {}
    m = modes.get("on") or next(iter(modes.values()), {})
    measured = {"main": (m.get("main_decode_tps_alone"), m.get("main_decode_tps_load")),
                "sub": (None, m.get("sub_decode_tps"))}
    out = []
    for role, (alone, load) in measured.items():
        est = roles.get(role, {})
        e_load = est.get("decode_tps_load")
        out.append({"role": role, "measured_alone": alone, "estimated_alone": est.get("decode_tps_alone"),
                    "measured_load": load, "estimated_load": e_load,
                    "measured_over_estimate_load": load / e_load if load and e_load else None})
    return out


def _f(v, digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def render(con, title: str, summary: dict, plan: dict | None) -> None:
    """The agent tables: per role and phase, the main agent by turn, then the planner beside them."""
    from rich.table import Table

    con.print(f"[bold]{title}[/bold]")
    t = Table(title="Agents: per role (TTFT/E2E p50 ms, decode tok/s per stream)", box=None, header_style="bold",
              title_justify="left")
    for h in ("phase", "cache", "role", "ok/n", "prompt tok", "TTFT", "E2E", "decode", "sub overlap", "makespan s"):
        t.add_column(h, justify="right")
    for r in summary["rows"]:
        pt = r.get("prompt_tokens") or [None, None]
        t.add_row(r["phase"], r["prefix_cache"], r["role"], f"{r['ok']}/{r['requests']}", f"{pt[0]}-{pt[1]}",
                  _f(r["ttft_ms"]["p50"]), _f(r["e2e_ms"]["p50"]), _f(r["decode_tps"]),
                  "-" if r.get("sub_overlap") is None else f"{r['sub_overlap']:.0%}", _f(r.get("makespan_s"), 2))
    con.print(t)
    keys = list(dict.fromkeys((x["phase"], x["prefix_cache"]) for x in summary["turns"]))
    t = Table(title="Main agent by turn: TTFT ms as the context grows", box=None, header_style="bold",
              title_justify="left")
    for h in ["turn", "prompt tok"] + [f"{p} cache={c}" for p, c in keys]:
        t.add_column(h, justify="right")
    by = {(x["phase"], x["prefix_cache"], x["turn"]): x for x in summary["turns"]}
    for turn in sorted({x["turn"] for x in summary["turns"]}):
        first = next(x for x in summary["turns"] if x["turn"] == turn)
        cells = [_f((by.get((p, c, turn)) or {}).get("ttft_ms")) for p, c in keys]
        t.add_row(str(turn), str(first["prompt_tokens"]), *cells)
    con.print(t)
    for mode, m in summary["modes"].items():
        ratio = m.get("load_over_alone")
        con.print(f"cache={mode}: main decode {_f(m['main_decode_tps_alone'])} tok/s alone, "
                  f"{_f(m['main_decode_tps_load'])} under sub-agent load"
                  f"{'' if ratio is None else f' (x{ratio:.2f})'}; sub TTFT {_f(m['sub_ttft_ms'])} ms, "
                  f"E2E {_f(m['sub_e2e_ms'])} ms, {_f(m['sub_decode_tps'])} tok/s; makespan {_f(m['makespan_s'], 2)} s")
    if summary.get("prefix_cache_ttft_ratio") is not None:
        con.print(f"prefix cache: main TTFT after turn 1 is x{summary['prefix_cache_ttft_ratio']:.2f} of uncached")
    _render_plan(con, summary, plan)


def _render_plan(con, summary: dict, plan: dict | None) -> None:
    if not plan or plan.get("error"):
        con.print(f"[dim]planner: {(plan or {}).get('error', 'no estimate')}[/dim]")
        return
    gb = lambda b: "-" if b is None else f"{b / 1e9:.2f} GB"  # noqa: E731
    parts = ", ".join(f"{s['server']} ({'+'.join(s['roles'])}: {s['model']}) {gb(s['total_bytes'])}"
                      for s in plan["servers"])
    con.print(f"[bold]Planner on {plan['hardware']}[/bold]: {parts}; together {gb(plan['total_bytes'])} of "
              f"{gb(plan['usable_bytes'])} usable -> {'fits' if plan['fits'] else 'does not fit'}")
    for row in beside_plan(summary, plan):
        con.print(f"  {row['role']}: decode alone est. {_f(row['estimated_alone'])} / meas. {_f(row['measured_alone'])}"
                  f" tok/s; under load est. {_f(row['estimated_load'])} / meas. {_f(row['measured_load'])} tok/s")
