"""The report's "Agent workloads" section: agent runs recomputed from raw records, planner beside them.

An agent run (``tokbench bench --workload agents``) stores records with ``role`` "main" / "sub",
each phase's task graph as point metadata (kind ``agents-phase``) and, under ``agents summary``,
the planner's view of the mix (memory fit, per-role decode tok/s alone and under load).
:func:`agent_entry` recomputes the measurement with :func:`tokbench.metrics.agents.summarize_agents`
(never the stored summary, so a changed definition reaches old runs) and keeps the stored plan;
:func:`agent_tables` turns the document's entries into tables where every number is labelled
measured or estimated, as the other tables are.
"""

from __future__ import annotations

from tokbench.report.tables import _e, _num, _run_source

AGENT_PLAN_SOURCE = ("tokbench planner view stored with the run (tokbench.plan.agents: joint memory fit; "
                     "decode tok/s with the processes sharing one memory bus)")
SECTION = "Agent workloads"


def agent_entry(records, meta: dict[str, dict], config: dict | None = None) -> dict | None:
    """The run entry's ``agents`` value: summary from raw records, stored plan; None for other runs."""
    from tokbench.metrics.agents import SUMMARY_KEY, is_agent_run, summarize_agents

    if not is_agent_run(records, meta):
        return None
    stored = meta.get(SUMMARY_KEY) or {}
    return {"summary": summarize_agents(records, meta), "plan": stored.get("plan"),
            "workload": (config or {}).get("agents")}


def _agent_runs(doc: dict) -> list[tuple[dict, dict]]:
    return [(run, run["agents"]) for run in doc["runs"] if run.get("agents")]


def _meas(v, src: str, fmt=_num) -> list[dict]:
    """A measured cell (empty when there is no value: nothing measured, nothing shown)."""
    return [] if v is None else [_e(fmt(v), "measured", "measured (tokbench)", src)]


def _est(v, label: str = "estimated (tokbench)", fmt=_num) -> list[dict]:
    """An estimated cell from the planner view stored with the run (empty without a value)."""
    return [] if not v else [_e(fmt(v), "estimated", label, AGENT_PLAN_SOURCE)]


def _gb(b) -> str:
    return "-" if b is None else f"{b / 1e9:.2f} GB"


def _ratio(v) -> str:
    return f"{v:.2f}"


def load_table(doc: dict) -> dict:
    """Per run and cache mode: main decode alone vs under sub-agent load, sub-agent latency, makespan."""
    rows = []
    for run, ag in _agent_runs(doc):
        src = _run_source(run)
        est = (((ag.get("plan") or {}).get("roles") or {}).get("main") or {}).get("load_over_alone")
        for mode, s in ag["summary"]["modes"].items():
            rows.append([run["id"], mode, _meas(s.get("main_decode_tps_alone"), src),
                         _meas(s.get("main_decode_tps_load"), src), _meas(s.get("load_over_alone"), src, _ratio),
                         _est(est, fmt=_ratio), _meas(s.get("sub_overlap"), src, lambda v: f"{v:.0%}"),
                         _meas(s.get("main_ttft_ms_later_turns"), src), _meas(s.get("sub_ttft_ms"), src),
                         _meas(s.get("sub_e2e_ms"), src), _meas(s.get("sub_decode_tps"), src),
                         _meas(s.get("makespan_s"), src, lambda v: _num(v, 2))])
    return {"title": "Agent workloads: main agent alone vs under sub-agent load",
            "note": "Per prefix-cache mode. Decode tok/s per stream (mean); TTFT/E2E p50 in ms; main TTFT after "
                    "turn 1 is the mean over turns 2+ (lower with the cache: the previous turn's prefix is reused); "
                    "sub overlap = share of the main agent's decode with a sub-agent in flight; makespan of the "
                    "whole task graph under load.",
            "columns": ["Run", "Cache", "Main decode tok/s alone", "Main decode tok/s under load", "Load / alone",
                        "Load / alone (planner)", "Sub overlap", "Main TTFT after turn 1", "Sub TTFT p50",
                        "Sub E2E p50", "Sub decode tok/s", "Makespan s"], "rows": rows}


def turns_table(doc: dict) -> dict:
    """The main agent's turns: TTFT and decode tok/s as the context (prompt tokens) grows."""
    rows = []
    for run, ag in _agent_runs(doc):
        src = _run_source(run)
        for t in ag["summary"]["turns"]:
            reuse = t.get("reusable_prefix_tokens")
            rows.append([run["id"], t["phase"], t["prefix_cache"], str(t["turn"]), str(t["prompt_tokens"]),
                         "-" if reuse is None else str(reuse), _meas(t.get("ttft_ms"), src),
                         _meas(t.get("decode_tps"), src)])
    return {"title": "Agent workloads: main agent TTFT per turn",
            "note": "Prompt tokens grow each turn (system + history + new user message, counted by the engine's "
                    "tokenizer); reusable prefix = tokens a prefix cache could keep from the turn before. TTFT in ms.",
            "columns": ["Run", "Phase", "Cache", "Turn", "Prompt tokens", "Reusable prefix", "TTFT ms",
                        "Decode tok/s"], "rows": rows}


def _fit_cell(plan: dict | None) -> list | str:
    if not plan:
        return "no planner view stored"
    if plan.get("error"):
        return f"planner: {plan['error']}"
    if plan.get("fits") is None:
        return f"{_gb(plan.get('total_bytes'))} (hardware unknown)"
    verdict = "fits" if plan["fits"] else "does not fit"
    where = plan.get("topology") or plan.get("hardware")  # a cluster plan's topology label, else the machine
    text = f"{verdict}: {_gb(plan.get('total_bytes'))} of {_gb(plan.get('usable_bytes'))} ({where})"
    return [_e(text, "estimated", "estimated (tokbench)", AGENT_PLAN_SOURCE)] + _servers(plan)


def _servers(plan: dict) -> list[dict]:
    """The planner's layout of the mix: which server holds which roles, with its model and memory."""
    out = []
    for s in plan.get("servers") or []:
        roles = " + ".join(s.get("roles") or []) or "no role"
        out.append(_e(f"server {s.get('server')}: {roles} ({s.get('model')} {s.get('quant')}, {s.get('engine')}, "
                      f"{_gb(s.get('total_bytes'))})", "estimated", "estimated (tokbench)", AGENT_PLAN_SOURCE))
    return out


def plan_table(doc: dict) -> dict:
    """Per run, cache mode and role: measured decode tok/s beside the planner's, alone and under load."""
    rows = []
    for run, ag in _agent_runs(doc):
        src, plan = _run_source(run), ag.get("plan")
        roles = (plan or {}).get("roles") or {}
        fit = _fit_cell(plan)
        for mode, s in ag["summary"]["modes"].items():
            measured = {"main": (s.get("main_decode_tps_alone"), s.get("main_decode_tps_load")),
                        "sub": (None, s.get("sub_decode_tps"))}  # sub-agents never run alone
            for role, (alone, load) in measured.items():
                est = roles.get(role) or {}
                if alone is None and load is None and not est:
                    continue
                e_load = est.get("decode_tps_load")
                ratio = _est(load / e_load, "measured / estimated", _ratio) if load and e_load else []
                rows.append([run["id"], mode, role, fit, _meas(alone, src), _est(est.get("decode_tps_alone")),
                             _meas(load, src), _est(e_load), ratio])
    return {"title": "Agent workloads: planner beside the measurement",
            "note": "Decode tok/s per stream; the planner's fit and speeds are the view stored with the run.",
            "columns": ["Run", "Cache", "Role", "Fit (planner)", "Decode alone measured", "Decode alone estimated",
                        "Decode under load measured", "Decode under load estimated", "Measured / estimated"],
            "rows": rows}


def agent_tables(doc: dict) -> list[dict]:
    """The "Agent workloads" section's tables (empty list when the document has no agent run)."""
    if not _agent_runs(doc):
        return []
    return [t for t in (load_table(doc), turns_table(doc), plan_table(doc)) if t["rows"]]
