"""The planner beside a measurement: per point the estimate of the same quantity (per-stream tok/s
of the sweep that ran, with the other requests' prefill interleaved), the model's memory fit, and
the agent mix's joint view. The planner's engine is the run identity's (tokbench.bench.identity),
read from the one engine table; a model or hardware the planner cannot read gives no estimate and
says why, never a guess.
"""

from __future__ import annotations

from typing import Any


def _spec_and_quant(ident: dict, model_path) -> tuple[Any, str | None]:
    """ModelSpec and quant of a run's model: the file when it is here, else the identity's model id."""
    from tokbench.modelspec import load_spec

    source = str(model_path) if model_path is not None else ident.get("model_id")
    if not source:
        return None, None
    try:
        return load_spec(source), ident.get("quant")
    except Exception:  # noqa: BLE001 - a model the planner cannot read just gets no estimate
        pass
    from tokbench.report.reference import map_model, model_spec

    key = map_model(str(source))  # a calibration model id (synthetic-llama-3b ...), as reports read it
    try:
        return (model_spec(key), ident.get("quant")) if key else (None, None)
    except Exception:  # noqa: BLE001 - as above
        return None, None


def planner_note(ident: dict, hardware) -> str | None:
    """Why there is no estimate (None when there can be one)."""
    if hardware is None:
        return "hardware unknown (pass --hardware ID, see `tokbench hw list`)"
    from tokbench.catalog.engines import plan_engines

    if ident.get("engine") not in plan_engines():
        return (f"the server behind the endpoint was not recognized (pass --engine vllm|sglang|ollama|"
                f"llama.cpp-server|... to name it)")
    return None


def point_estimates(ident: dict, model_path, hardware, rows: list[dict]) -> dict[str, dict]:
    """Per point label: the planner's decode estimate for that depth/concurrency (empty when none)."""
    if planner_note(ident, hardware):
        return {}
    from tokbench.plan import estimate

    spec, quant = _spec_and_quant(ident, model_path)
    if spec is None:
        return {}
    out = {}
    for row in rows:
        d, c = row.get("context_depth"), row.get("concurrency")
        if not isinstance(d, int) or not isinstance(c, int):
            continue
        ok = row.get("ok") or 0
        gen = round(row["output_tokens"] / ok) if ok and row.get("output_tokens") else 128
        try:
            # The sweep the bench just ran (prompt, output and request counts), so the estimate is of
            # the same quantity: per-stream tok/s with the other requests' prefill interleaved.
            p = estimate(spec, quant, hardware, engine=ident["engine"], context=max(d, 1) + gen,
                         concurrency=max(c, 1), depth=d + gen // 2, prompt_tokens=max(d, 1), gen_tokens=max(gen, 1),
                         requests=row.get("requests") or None)
        except Exception:  # noqa: BLE001 - e.g. a quant the planner does not know
            continue
        est = p.per_stream_decode_tps if c > 1 and p.per_stream_decode_tps else p.decode_tps
        # The band is relative (the same factors around any estimate): carried to the per-stream figure.
        scale = est / p.decode_tps if est and p.decode_tps else None
        low, high = ((p.decode_tps_low * scale, p.decode_tps_high * scale)
                     if scale and p.decode_tps_low and p.decode_tps_high else (None, None))
        out[row["point"]] = {"decode_tps": est, "aggregate_decode_tps": p.aggregate_decode_tps,
                             "low": low, "high": high, "fits": p.fits}
    return out


def attach_estimates(rows: list[dict], estimates: dict[str, dict]) -> None:
    """Add ``plan`` ({decode_tps, ...}) and ``measured_over_estimate`` (median over estimate) to each row."""
    for row in rows:
        est = estimates.get(row.get("point"))
        if not est:
            continue
        row["plan"] = est
        measured = (row.get("decode_tps_per_stream") or {}).get("p50")
        if measured and est.get("decode_tps"):
            row["measured_over_estimate"] = measured / est["decode_tps"]


def plan_row(ident: dict, model_path, hardware, depth: int) -> dict | None:
    """The planner's view of the run's model on the hardware (memory fit, decode band), or None."""
    if planner_note(ident, hardware):
        return None
    spec, quant = _spec_and_quant(ident, model_path)
    if spec is None:
        return None
    try:
        from tokbench.plan import estimate

        return estimate(spec, quant, hardware, engine=ident["engine"], context=depth + 64, depth=depth).to_dict()
    except Exception:  # noqa: BLE001 - the planner cannot read every model: show no plan
        return None


def agents_plan(run, hardware, main_path, sub_path, engines: dict[str, str | None]) -> dict:
    """The planner's view of an agent mix, or {"error": why} when a model or the hardware is unknown.
    ``engines``: role -> planner engine (the run identity's; None: the server was not recognized)."""
    if hardware is None:
        return {"error": "hardware unknown: pass --hardware ID (see `tokbench hw list`)"}
    spec = run.agents
    main_prompts = [spec.main_prompt_tokens(t) for t in range(1, spec.turns + 1)]
    main_depth = round(sum(main_prompts) / len(main_prompts) + spec.main_gen_tokens / 2)
    sub_depth = spec.sub_system_tokens + spec.sub_prompt_tokens + spec.sub_gen_tokens // 2
    try:
        from tokbench.plan.agents import AgentModel, plan_agents

        models = [AgentModel("main", *_agent_model(run.target, main_path, engines.get("main")),
                             context=spec.main_context(), depth=main_depth, server="main")]
        if spec.tasks_per_turn:
            target, path = (run.target, main_path) if run.sub is None else (run.sub, sub_path)
            engine = engines.get("main" if run.sub is None else "sub")
            models.append(AgentModel("sub", *_agent_model(target, path, engine), context=spec.sub_context(),
                                     depth=sub_depth,
                                     concurrency=min(spec.subagents, spec.tasks_per_turn),
                                     server="main" if run.sub is None else "sub"))
        return plan_agents(models, hardware)
    except Exception as exc:  # noqa: BLE001 - a model the planner cannot read: say so beside the measurement
        return {"error": f"planner: {exc}"}


def _agent_model(target, path, engine: str | None) -> tuple:
    """(spec, quant, planner engine) of one side: its --*-plan MODEL:QUANT, else the model file."""
    from tokbench.catalog.engines import plan_engines
    from tokbench.errors import UserError

    if engine not in plan_engines():
        raise UserError("the server behind the endpoint was not recognized: pass --engine (vllm, sglang, ...)")
    if target.plan:
        model, _, quant = target.plan.rpartition(":")
        if not model:
            raise UserError(f"plan '{target.plan}': use MODEL:QUANT")
        return model, quant, engine
    if path is None:
        raise UserError("model behind an endpoint: pass --main-plan / --sub-plan MODEL:QUANT")
    from tokbench.modelspec import load_spec

    quant = target.model.quant if target.model is not None and target.model.quant else None
    return load_spec(str(path)), quant, engine
