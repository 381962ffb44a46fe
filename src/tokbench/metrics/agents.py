"""Agent workload metrics: pure functions of raw records and the phases' point metadata.

The agent workload (``tokbench bench --workload agents``) stores records with ``role`` "main" /
"sub" and, per phase and prefix-cache mode, point metadata of kind ``agents-phase`` under the key
``agents <phase> cache=<mode>``: the turns (prompt tokens, the main record's index, its sub-agent
records' indices, start/end), the makespan and the number in flight. :func:`summarize_agents`
derives every agent figure from those two, so a stored run can be recomputed when a definition
changes; it imports only records and metrics (the report reads it; loadgen re-exports it).
"""

from __future__ import annotations

from tokbench.metrics.stats import distribution, mean, percentile
from tokbench.metrics.summary import decode_rates, decode_tps, e2e_ms, ttft_ms
from tokbench.records import OK, RequestRecord

SUMMARY_KEY = "agents summary"  # point-meta key of the summary and planner view bench_agents stores
PHASE_KIND = "agents-phase"


def is_agent_run(records: list[RequestRecord], meta: dict[str, dict]) -> bool:
    """True when a run holds agent-workload data (a phase's metadata, or main/sub records)."""
    if any(isinstance(m, dict) and m.get("kind") == PHASE_KIND for m in meta.values()):
        return True
    return any(r.role in ("main", "sub") for r in records)


def _overlap(r: RequestRecord, others: list[RequestRecord]) -> float | None:
    """Share of ``r``'s decode span [first token, end] during which any of ``others`` was in flight."""
    if r.t_first_token is None or r.t_end is None or r.t_end <= r.t_first_token:
        return None
    a, b = r.t_first_token, r.t_end
    spans = sorted((max(a, o.t_start), min(b, o.t_end)) for o in others if o.t_end is not None)
    covered, reach = 0.0, a
    for lo, hi in spans:
        lo = max(lo, reach)
        if hi > lo:
            covered += hi - lo
            reach = hi
    return covered / (b - a)


def _role_row(label_: str, meta: dict, role: str, recs: list[RequestRecord], subs: list[RequestRecord]) -> dict:
    ok = [r for r in recs if r.status == OK]
    vals = lambda fn: [v for v in map(fn, ok) if v is not None]
    # Median of the requests whose timing is possible: one buffered burst must not make the role
    # look several times faster (see tokbench.metrics.summary.timing_flags).
    rates, flags = decode_rates(ok)
    row = {"point": label_, "phase": meta.get("phase"), "prefix_cache": meta.get("prefix_cache"),
           "role": role, "requests": len(recs), "ok": len(ok), "errors": len(recs) - len(ok),
           "prompt_tokens": [min(r.prompt_tokens for r in recs), max(r.prompt_tokens for r in recs)] if recs else None,
           "ttft_ms": distribution(vals(ttft_ms)), "e2e_ms": distribution(vals(e2e_ms)),
           "decode_tps": percentile(rates, 50), "timing_flagged": len(flags), "makespan_s": meta.get("makespan_s")}
    if role == "main" and subs:
        row["sub_overlap"] = mean([v for v in (_overlap(r, subs) for r in ok) if v is not None])
    return row


def _turn_rows(phases: list[dict], by_index: dict[int, RequestRecord]) -> list[dict]:
    """The main agent's turns of every phase: prompt tokens, TTFT and decode tok/s as the context grows."""
    flagged = set()
    for m in phases:
        mains = [by_index[t["main_index"]] for t in m.get("turns", []) if t.get("main_index") in by_index]
        flagged |= set(decode_rates(mains)[1])
    out = []
    for m in phases:
        for tm in m.get("turns", []):
            r = by_index.get(tm.get("main_index"))
            ok = r is not None and r.status == OK
            sub_ends = [by_index[i].t_end for i in tm.get("sub_indices", []) if i in by_index]
            out.append({"phase": m["phase"], "prefix_cache": m["prefix_cache"], "turn": tm["turn"],
                        "prompt_tokens": tm["prompt_tokens"],
                        "reusable_prefix_tokens": tm.get("reusable_prefix_tokens"),
                        "ttft_ms": ttft_ms(r) if ok else None,
                        "decode_tps": decode_tps(r) if ok and r.index not in flagged else None,
                        "t_start": r.t_start if r else tm["t_start"], "subs_end": max(sub_ends) if sub_ends else None})
    return out


def _mode_summary(mode: str, rows: list[dict], turns: list[dict]) -> dict:
    """One prefix-cache mode: main decode alone vs under load, sub-agent latency, makespan."""
    def pick(phase: str, role: str) -> dict:
        return next((x for x in rows if (x["phase"], x["prefix_cache"], x["role"]) == (phase, mode, role)), {})

    alone, load, sub = pick("alone", "main"), pick("load", "main"), pick("load", "sub")
    a, b = alone.get("decode_tps"), load.get("decode_tps")
    later = [t["ttft_ms"] for t in turns if t["prefix_cache"] == mode and t["turn"] > 1 and t["ttft_ms"] is not None]
    return {"main_decode_tps_alone": a, "main_decode_tps_load": b, "load_over_alone": b / a if a and b else None,
            "sub_overlap": load.get("sub_overlap"), "main_ttft_ms_later_turns": mean(later),
            "sub_ttft_ms": (sub.get("ttft_ms") or {}).get("p50"), "sub_e2e_ms": (sub.get("e2e_ms") or {}).get("p50"),
            "sub_decode_tps": sub.get("decode_tps"), "makespan_s": load.get("makespan_s")}


def summarize_agents(records: list[RequestRecord], meta: dict[str, dict]) -> dict:
    """Agent metrics from records and point metadata (pure).

    ``rows``: one per (phase, cache mode, role); ``turns``: the main agent's turns (prompt tokens,
    TTFT, decode tok/s); ``modes``: per cache mode the main decode tok/s alone vs under sub-agent
    load, sub-agent latency and the graph's makespan; ``prefix_cache_ttft_ratio``: the main agent's
    mean TTFT after turn 1 with the cache over without (below 1: the cache saved prefill).
    """
    by_index = {r.index: r for r in records if not r.warmup}
    # A phase's metadata is stored under its key (``agents load cache=on``): rows are named after it.
    keyed = [(key, m) for key, m in meta.items() if isinstance(m, dict) and m.get("kind") == PHASE_KIND]
    phases = [m for _, m in keyed]
    rows = []
    for key, m in keyed:
        turns = m.get("turns", [])
        mains = [by_index[t["main_index"]] for t in turns if t.get("main_index") in by_index]
        subs = [by_index[i] for t in turns for i in t.get("sub_indices", []) if i in by_index]
        rows.append(_role_row(f"{key} main", m, "main", mains, subs))
        if subs:
            rows.append(_role_row(f"{key} sub", m, "sub", subs, []))
    turns = _turn_rows(phases, by_index)
    modes = {mode: _mode_summary(mode, rows, turns) for mode in dict.fromkeys(m["prefix_cache"] for m in phases)}
    on, off = (modes.get(k, {}).get("main_ttft_ms_later_turns") for k in ("on", "off"))
    return {"rows": rows, "turns": turns, "modes": modes,
            "prefix_cache_ttft_ratio": on / off if on and off else None}
