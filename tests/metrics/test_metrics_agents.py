"""Agent workload metrics (pure): records + phase metadata -> per-role rows, turns and per-mode figures."""

import pytest

from tokbench.loadgen import agents as loadgen_agents
from tokbench.metrics.agents import is_agent_run, summarize_agents
from tokbench.records import ERROR, RequestRecord


def _rec(index, role, t0, first, end, n=5, prompt=10, status="ok", warmup=False):
    times = [first + (end - first) * i / (n - 1) for i in range(n)] if status == "ok" else []
    return RequestRecord(point=f"p {role}", index=index, concurrency=3, context_depth=prompt, prompt_tokens=prompt,
                         gen_tokens_requested=n, t_start=t0, t_first_token=times[0] if times else None, t_end=end,
                         token_times=times, output_tokens=len(times), role=role, status=status, warmup=warmup)


def _phase(name, mode, makespan, turns):
    return {"kind": "agents-phase", "phase": name, "prefix_cache": mode, "makespan_s": makespan,
            "turns": [{"turn": i + 1, "main_index": m, "sub_indices": subs, "t_start": 0.0, "prompt_tokens": p,
                       "reusable_prefix_tokens": r} for i, (m, subs, p, r) in enumerate(turns)]}


def test_loadgen_re_exports_the_metrics_function():
    assert loadgen_agents.summarize_agents is summarize_agents


def test_two_subs_errors_and_warmup():
    recs = [_rec(0, "main", 0.0, 0.1, 0.5), _rec(1, "main", 1.0, 1.1, 1.9, prompt=30),
            _rec(2, "sub", 1.0, 1.05, 1.3), _rec(3, "sub", 1.3, 1.35, 1.7),
            _rec(4, "sub", 1.0, 1.0, 1.2, status=ERROR), _rec(9, "main", 0.0, 0.01, 0.02, warmup=True)]
    meta = {"agents load cache=on": _phase("load", "on", 2.0, [(0, [], 10, 0), (1, [2, 3, 4, 9], 30, 10)]),
            "agents summary": {"kind": "agents-summary"}}  # not a phase: ignored
    s = summarize_agents(recs, meta)
    main, sub = s["rows"]
    assert main["point"] == "agents load cache=on main" and main["prompt_tokens"] == [10, 30]
    assert sub["point"] == "agents load cache=on sub"
    assert (sub["requests"], sub["ok"], sub["errors"]) == (3, 2, 1)  # warm-up index 9 left out
    assert sub["ttft_ms"]["p50"] == pytest.approx(50.0) and sub["decode_tps"] == pytest.approx((16 + 4 / 0.35) / 2)
    # main turn 2 decodes 1.1..1.9; subs in flight 1.0..1.7 (errors count: they occupied the server)
    assert main["sub_overlap"] == pytest.approx((0.6 / 0.8 + 0.0) / 2)
    m = s["modes"]["on"]
    assert m["main_decode_tps_alone"] is None and m["load_over_alone"] is None
    assert m["main_ttft_ms_later_turns"] == pytest.approx(100.0) and m["makespan_s"] == 2.0
    assert [t["reusable_prefix_tokens"] for t in s["turns"]] == [0, 10]
    assert s["prefix_cache_ttft_ratio"] is None  # no cache=off phase


def test_failed_main_turn_has_no_ttft():
    recs = [_rec(0, "main", 0.0, 0.1, 0.5, status=ERROR)]
    s = summarize_agents(recs, {"k": _phase("alone", "off", 0.5, [(0, [], 10, 1)])})
    assert s["turns"][0]["ttft_ms"] is None and s["rows"][0]["errors"] == 1
    assert s["modes"]["off"]["main_decode_tps_alone"] is None


def test_is_agent_run():
    assert is_agent_run([], {"k": _phase("load", "on", 1.0, [])})
    assert is_agent_run([_rec(0, "sub", 0.0, 0.1, 0.2)], {})
    plain = RequestRecord(point="c=1 d=0", index=0, concurrency=1, context_depth=0, prompt_tokens=8,
                          gen_tokens_requested=4, t_start=0.0)
    assert not is_agent_run([plain], {"c=1 d=0": {"kind": "sweep"}})
