"""Agent mixes as runs of the job: ``[[agents]]`` tables of a suite (the shipped ``agents`` suite
by default: the synthetic default model served twice, side by side) with the command line on top.

The main side is ``--main-endpoint/--main-model`` (or ``--endpoint/--model``, or a model file
launched with ``--engine``); the sub-agent side is ``--sub-endpoint/--sub-model``, or a model
file launched with ``--sub-engine`` (default: the main's engine); with neither, sub-agents share
the main's engine. Suite format (every key of :class:`tokbench.loadgen.agents.AgentSpec`)::

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

from dataclasses import fields, replace
from pathlib import Path

from tokbench.bench.job import BenchArgs, ModelRef, RunSpec, Target
from tokbench.bench.suite import load_suite_file, suite_name
from tokbench.errors import UserError, unknown
from tokbench.loadgen.agents import AgentSpec


def _engine_name(name: str | None) -> str | None:
    if not name:
        return None
    from tokbench.catalog.engines import get_bench_engine

    return get_bench_engine(name).name


def _side(role: str, t: dict | None) -> Target | None:
    """A suite's [agents.main] / [agents.sub] table as a target (None: shared with the main)."""
    if t is None:
        return None
    engine = _engine_name(t.get("engine"))
    if t.get("endpoint"):
        return Target(engine or "openai", endpoint=t["endpoint"], model_name=t.get("model"),
                      tokenizer=t.get("tokenizer"), plan=t.get("plan"))
    if t.get("synth") == "default":
        ref = ModelRef("tokbench-default", synth_default=True)
    elif t.get("path"):
        ref = ModelRef(Path(t["path"]).name, path=t["path"])
    elif t.get("spec"):
        q = t.get("quant", "Q4_K_M")
        ref = ModelRef(f"{t['spec']} {q}", spec=t["spec"], quant=q, scale_layers=t.get("scale_layers"),
                       scale_width=t.get("scale_width"))
    else:
        raise UserError(f"suite: [agents.{role}] needs endpoint, synth = \"default\", path or spec")
    return Target(engine or "llama.cpp-server", model=ref, plan=t.get("plan"))


def _spec(table: dict, overrides: dict) -> AgentSpec:
    names = {f.name for f in fields(AgentSpec)}
    unknown_keys = [k for k in table if k not in names and k not in ("name", "main", "sub")]
    if unknown_keys:
        raise unknown("agents key", unknown_keys[0], names | {"name", "main", "sub"})
    try:
        spec = AgentSpec(**{k: v for k, v in table.items() if k in names})
    except TypeError as exc:
        raise UserError(f"suite: [[agents]]: {exc}") from None
    over = dict(overrides)
    if "subagents" in over and "tasks_per_turn" not in over:
        over["tasks_per_turn"] = over["subagents"]
    return replace(spec, **over).validate()


def _cli_sides(a: BenchArgs, main: Target, sub: Target | None) -> tuple[Target, Target | None]:
    """--main-*/--sub-*/--endpoint/--model/--engine on top of the suite's sides."""
    engine = _engine_name(a.engine)
    endpoint, model = a.main_endpoint or a.endpoint, a.main_model or a.model
    if endpoint:
        main = Target(engine or "openai", endpoint=endpoint, model_name=model, tokenizer=a.tokenizer)
    elif model:
        main = Target(engine or main.engine or "llama.cpp-server", model=ModelRef(Path(model).name, path=model))
    elif engine:
        main = replace(main, engine=engine)
    if main.endpoint is None and main.model is None:
        raise UserError(f"the main agent's engine {main.engine} needs --main-endpoint (or --endpoint)")
    sub_engine = _engine_name(a.sub_engine)
    if a.sub_endpoint:
        sub = Target(sub_engine or "openai", endpoint=a.sub_endpoint, model_name=a.sub_model, tokenizer=a.sub_tokenizer)
    elif a.sub_model:
        if sub_engine == "openai":
            raise UserError("--sub-engine openai needs --sub-endpoint")
        eng = sub_engine or (main.engine if main.model is not None else "llama.cpp-server")
        sub = Target(eng, model=ModelRef(Path(a.sub_model).name, path=a.sub_model))
    elif endpoint or model:
        sub = None  # a main given on the command line replaces the suite's pair
    elif sub_engine and sub is not None:
        sub = replace(sub, engine=sub_engine)
    threads = a.threads
    main = replace(main, plan=a.main_plan or main.plan, threads=threads if main.model else None)
    if sub is not None:
        sub = replace(sub, plan=a.sub_plan or sub.plan, threads=threads if sub.model else None)
    return main, sub


def agent_runs(a: BenchArgs) -> tuple[list[RunSpec], str]:
    """The agent mixes to run (shipped ``agents`` suite by default) and the suite's name."""
    doc, source = load_suite_file(a.suite or "agents")
    tables = doc.get("agents") or []
    if not tables:
        raise UserError(f"suite {source} has no [[agents]] tables")
    if doc.get("workloads"):
        raise UserError(f"suite {source} mixes [[workloads]] and [[agents]]: put agent mixes in a suite of their own")
    runs = []
    for i, t in enumerate(tables):
        if not isinstance(t, dict):
            raise UserError(f"suite {source}: [[agents]] entries must be tables")
        main, sub = _cli_sides(a, _side("main", t.get("main") or {"synth": "default"}), _side("sub", t.get("sub")))
        runs.append(RunSpec(main, agents=_spec(t, dict(a.agents)), sub=sub, name=t.get("name") or f"agents #{i + 1}"))
    return runs, suite_name(doc, source)
