"""Agent workload: exact prompt growth, the task graph's order, and the agent metrics.

A fake engine is used where exact timings and token counts must be known (one token per word
plus BOS); the real two-server run is in tests/cli/test_cli_bench_agents.py.
"""

import asyncio

import pytest

from tokbench.engines.protocol import GenResult, Prompt, clock
from tokbench.errors import UserError
from tokbench.loadgen.agents import (
    AgentRunner, AgentSpec, label, main_prompts, phase_key, sub_prompts, summarize_agents,
)
from tokbench.records import RequestRecord


class WordEngine:
    """One token per whitespace-separated word plus BOS; generation sleeps ``delay`` per token."""

    max_concurrency = 64
    timestamps_on_loop = True

    def __init__(self, delay=0.002):
        self.delay = delay
        self.sent: list[tuple[float, str, bool]] = []  # (start time, prompt text, cache_prompt)

    async def count_tokens(self, text):
        return len(text.split()) + 1

    async def make_prompt(self, n_tokens, seed):
        return Prompt(n_tokens, text=f"{seed:x}: " + " the" * (n_tokens - 2))

    async def generate(self, request, sink):
        self.sent.append((clock(), request.prompt.text, request.cache_prompt))
        await asyncio.sleep(self.delay * 3)  # "prefill"
        for _ in range(request.max_tokens):
            await asyncio.sleep(self.delay)
            sink(clock(), 1)
        return GenResult("length", request.prompt.n_tokens, request.max_tokens)


SMALL = dict(turns=3, subagents=2, tasks_per_turn=3, system_tokens=40, user_tokens=8, main_gen_tokens=5,
             sub_system_tokens=6, sub_prompt_tokens=10, sub_gen_tokens=4, warmup=0)


def test_main_prompts_grow_by_exact_tokens():
    eng = WordEngine()
    spec = AgentSpec(**SMALL)
    prompts, reusable = asyncio.run(main_prompts(eng, spec, "on", seed=1))
    counts = [p.n_tokens for p in prompts]
    assert counts == [spec.main_prompt_tokens(t) for t in (1, 2, 3)] == [48, 61, 74]
    assert [asyncio.run(eng.count_tokens(p.text)) for p in prompts] == counts  # the recorded length is the truth
    assert all(b.text.startswith(a.text) for a, b in zip(prompts, prompts[1:]))  # history kept verbatim
    assert reusable == [0, 48, 61]


def test_cache_off_prompts_share_no_prefix_but_have_the_same_lengths():
    eng = WordEngine()
    spec = AgentSpec(**SMALL)
    on, _ = asyncio.run(main_prompts(eng, spec, "on", seed=1))
    off, reusable = asyncio.run(main_prompts(eng, spec, "off", seed=1))
    assert [p.n_tokens for p in off] == [p.n_tokens for p in on]
    firsts = {p.text.split()[0] for p in off}
    assert len(firsts) == 3 and reusable == [1, 1, 1]  # distinct first words: nothing to reuse


def test_sub_prompts_share_the_sub_system_prompt_only_when_cached():
    eng = WordEngine()
    spec = AgentSpec(**SMALL)
    on = asyncio.run(sub_prompts(eng, spec, "on", seed=3))
    off = asyncio.run(sub_prompts(eng, spec, "off", seed=3))
    assert len(on) == 3 and all(len(row) == 3 for row in on)
    assert all(p.n_tokens == 16 for row in on + off for p in row)
    assert len({p.text.split("\n")[0] for row in on for p in row}) == 1
    assert len({p.text.split("\n")[0] for row in off for p in row}) == 9


def _run(spec, delay=0.002):
    eng_main, eng_sub = WordEngine(delay), WordEngine(delay)
    res = asyncio.run(AgentRunner(eng_main, eng_sub, spec).run())
    return res, eng_main, eng_sub


@pytest.mark.parametrize("dispatch", ["with", "after"])
def test_task_graph_order_and_records(dispatch):
    spec = AgentSpec(**{**SMALL, "dispatch": dispatch, "prefix_cache": ("on",)})
    res, eng_main, eng_sub = _run(spec)
    recs = {r.index: r for r in res.records}
    main_meta = res.meta[phase_key("load", "on")]
    assert main_meta["makespan_s"] > 0 and res.meta[label("load", "on", "sub")]["role"] == "sub"
    assert res.meta[label("load", "on", "main", 2)] == {"kind": "agents", "phase": "load", "prefix_cache": "on",
                                                       "role": "main", "turn": 2}
    turns = main_meta["turns"]
    assert [t["turn"] for t in turns] == [1, 2, 3]
    for t, nxt in zip(turns, turns[1:]):
        subs = [recs[i] for i in t["sub_indices"]]
        assert len(subs) == 3 and all(r.role == "sub" and r.status == "ok" for r in subs)
        assert recs[nxt["main_index"]].t_start >= max(r.t_end for r in subs)  # waits for its sub-agents
    for t in turns:
        main, subs = recs[t["main_index"]], sorted((recs[i] for i in t["sub_indices"]), key=lambda r: r.t_start)
        if dispatch == "after":
            assert subs[0].t_start >= main.t_end
        else:
            assert subs[0].t_start < main.t_end
        assert subs[2].t_start >= min(r.t_end for r in subs[:2])  # at most 2 sub-agents in flight
    mains = [recs[t["main_index"]] for t in turns]
    assert [r.prompt_tokens for r in mains] == [48, 61, 74] and all(r.role == "main" for r in mains)
    assert [r.context_depth for r in mains] == [48, 61, 74]
    assert [r.point for r in mains] == [label("load", "on", "main", t) for t in (1, 2, 3)]
    assert all(cache for _, _, cache in eng_main.sent)  # cache on: cache_prompt sent
    alone = [r for r in res.records if r.point.startswith(label("alone", "on", "main"))]
    assert len(alone) == 3 and all(r.concurrency == 1 for r in alone)


def test_cache_off_sends_no_cache_prompt_and_labels_phases():
    spec = AgentSpec(**{**SMALL, "prefix_cache": ("off",), "baseline": False, "turns": 2})
    res, eng_main, _ = _run(spec)
    assert {r.point for r in res.records} == {label("load", "off", "main", 1), label("load", "off", "main", 2),
                                              label("load", "off", "sub")}
    assert not any(cache for _, _, cache in eng_main.sent)


def test_stop_cancels_in_flight_requests_as_incomplete():
    async def main():
        stop = asyncio.Event()
        runner = AgentRunner(WordEngine(0.05), WordEngine(0.05), AgentSpec(**SMALL), stop=stop)
        asyncio.get_running_loop().call_later(0.3, stop.set)
        return await runner.run()

    res = asyncio.run(main())
    assert res.interrupted
    assert any(r.status == "incomplete" and r.error_class == "interrupted" for r in res.records)


def _rec(index, point, role, t0, first, end, n=5, prompt=10):
    times = [first + (end - first) * i / (n - 1) for i in range(n)]
    return RequestRecord(point=point, index=index, concurrency=3, context_depth=prompt, prompt_tokens=prompt,
                         gen_tokens_requested=n, t_start=t0, t_first_token=first, t_end=end, token_times=times,
                         output_tokens=n, role=role)


def test_summarize_agents_overlap_ratio_and_cache_saving():
    a, lm, ls = label("alone", "on", "main"), label("load", "on", "main"), label("load", "on", "sub")
    off = label("alone", "off", "main")
    recs = [_rec(0, a, "main", 0.0, 0.1, 0.5), _rec(1, a, "main", 1.0, 1.05, 1.45, prompt=20),
            _rec(2, lm, "main", 2.0, 2.1, 2.9), _rec(3, ls, "sub", 2.0, 2.05, 2.5),
            _rec(4, off, "main", 4.0, 4.1, 4.5), _rec(5, off, "main", 5.0, 5.2, 5.6, prompt=20)]

    def phase(name, mode, makespan, turns):
        return {"kind": "agents-phase", "phase": name, "prefix_cache": mode, "makespan_s": makespan,
                "turns": [{"turn": i + 1, "main_index": m, "sub_indices": subs, "t_start": 0.0, "prompt_tokens": p}
                          for i, (m, subs, p) in enumerate(turns)]}

    meta = {phase_key("alone", "on"): phase("alone", "on", 1.5, [(0, [], 10), (1, [], 20)]),
            phase_key("load", "on"): phase("load", "on", 0.9, [(2, [3], 10)]),
            phase_key("alone", "off"): phase("alone", "off", 1.6, [(4, [], 10), (5, [], 20)]),
            ls: {"kind": "agents", "role": "sub"}}  # per-label metadata is not needed for the summary
    s = summarize_agents(recs, meta)
    assert [(r["phase"], r["prefix_cache"], r["role"], r["requests"]) for r in s["rows"]] == [
        ("alone", "on", "main", 2), ("load", "on", "main", 1), ("load", "on", "sub", 1), ("alone", "off", "main", 2)]
    on = s["modes"]["on"]
    assert on["main_decode_tps_alone"] == pytest.approx(10.0)  # 4 gaps over 0.4 s
    assert on["main_decode_tps_load"] == pytest.approx(5.0) and on["load_over_alone"] == pytest.approx(0.5)
    assert on["sub_overlap"] == pytest.approx(0.4 / 0.8)  # sub in flight 2.1..2.5 of main's 2.1..2.9
    assert on["sub_ttft_ms"] == pytest.approx(50.0) and on["makespan_s"] == 0.9
    assert s["prefix_cache_ttft_ratio"] == pytest.approx(50.0 / 200.0)  # turn 2: 50 ms cached vs 200 ms
    turn2 = [t for t in s["turns"] if t["turn"] == 2 and t["prefix_cache"] == "on"][0]
    assert turn2["prompt_tokens"] == 20 and turn2["ttft_ms"] == pytest.approx(50.0)


@pytest.mark.parametrize("kw,needle", [
    ({"turns": 0}, "turns"), ({"subagents": -1}, "subagents"), ({"prefix_cache": ("maybe",)}, "prefix_cache"),
    ({"dispatch": "afterr"}, "did you mean: after"), ({"subagents": 0, "tasks_per_turn": 2}, "needs subagents"),
])
def test_bad_shapes_are_user_errors(kw, needle):
    with pytest.raises(UserError, match=needle):
        AgentSpec(**kw).validate()


@pytest.mark.engine
def test_llama_cpp_server_main_with_mlx_server_subs(tmp_path):
    """The other real pairing: main on llama_cpp.server, sub-agents on mlx_lm.server, side by side."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "engines"))
    from tb_tiny_models import tiny_gguf, tiny_mlx

    from tokbench.engines.registry import create

    spec = AgentSpec(turns=2, subagents=2, system_tokens=96, user_tokens=16, main_gen_tokens=8, sub_system_tokens=16,
                     sub_prompt_tokens=24, sub_gen_tokens=8, prefix_cache=("on",), warmup=1)

    async def main():
        m = create("llama.cpp-server", model=str(tiny_gguf(tmp_path / "m.gguf")), n_ctx_per_seq=512, n_threads=1)
        s = create("mlx-server", model=str(tiny_mlx(tmp_path / "mlx")), n_ctx_per_seq=256, n_parallel=2)
        await asyncio.gather(m.start(), s.start())
        try:
            return await AgentRunner(m, s, spec).run()
        finally:
            await asyncio.gather(m.stop(), s.stop())

    res = asyncio.run(main())
    recs = [r for r in res.records if not r.warmup]
    assert all(r.status == "ok" for r in recs)
    subs = [r for r in recs if r.role == "sub"]
    assert len(subs) == 4 and all(r.prompt_tokens == 40 and r.usage_prompt_tokens == 40 for r in subs)
    mains = [r for r in recs if r.point.startswith(label("load", "on", "main"))]
    assert [r.prompt_tokens for r in mains] == [112, 136]
    s = summarize_agents(res.records, res.meta)
    assert s["modes"]["on"]["sub_e2e_ms"] > 0 and s["modes"]["on"]["makespan_s"] > 0
