"""The report's "Agent workloads" section, from a real stored agent run.

The run is made by the real AgentRunner against a timing-exact fake engine (one token per word;
the two-server run is in tests/cli/test_cli_bench_agents.py), then stored through the store API
exactly as ``bench --workload agents`` stores it: records, each phase's point meta, and the
planner's view under ``agents summary``.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from tb_report_runs import make_run

from tokbench.engines.protocol import GenResult, Prompt
from tokbench.loadgen.agents import AgentRunner, AgentSpec
from tokbench.metrics.agents import SUMMARY_KEY, summarize_agents
from tokbench.plan.agents import AgentModel, plan_agents
from tokbench.report.agents import agent_tables
from tokbench.report.document import SCHEMA_VERSION, build_document
from tokbench.report.html import render_html
from tokbench.report.markdown import render_markdown
from tokbench.store import open_store


class WordEngine:
    """One token per word plus BOS; a fixed sleep per token, so decode rates are known."""

    max_concurrency = 64
    timestamps_on_loop = True

    def __init__(self, delay: float):
        self.delay = delay

    async def count_tokens(self, text):
        return len(text.split()) + 1

    async def make_prompt(self, n_tokens, seed):
        return Prompt(n_tokens, text=f"{seed:x}: " + " the" * (n_tokens - 2))

    async def generate(self, request, sink):
        from tokbench.engines.protocol import clock

        await asyncio.sleep(self.delay * 2)
        for _ in range(request.max_tokens):
            await asyncio.sleep(self.delay)
            sink(clock(), 1)
        return GenResult("length", request.prompt.n_tokens, request.max_tokens)


SPEC = dict(turns=3, subagents=2, tasks_per_turn=2, system_tokens=40, user_tokens=8, main_gen_tokens=6,
            sub_system_tokens=6, sub_prompt_tokens=10, sub_gen_tokens=4, warmup=1)


def _plan(spec: AgentSpec) -> dict:
    return plan_agents([AgentModel("main", "qwen2.5-7b", "Q4_K_M", context=spec.main_context(), server="main"),
                        AgentModel("sub", "qwen2.5-7b", "Q4_K_M", context=spec.sub_context(), concurrency=2,
                                   server="sub")], "m3-ultra-80c")


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """(db, run id, plan) of one stored agent run beside one ordinary sweep run."""
    db = tmp_path_factory.mktemp("agents") / "a.db"
    make_run(db, [dict(depth=0, conc=1, n=4, ttft_s=0.02, itl_s=0.003)], name="sweep")
    spec = AgentSpec(**SPEC)
    plan = _plan(spec)
    with open_store(db) as store:
        run_id = store.create_run("bench", {"workload": "agents", "name": "mix", "agents": spec.to_dict(),
                                            "engine": "llama.cpp-server"}, {"host": "testhost"}, name="mix")
        res = asyncio.run(AgentRunner(WordEngine(0.002), WordEngine(0.002), spec,
                                      lambda r: store.add_record(run_id, r)).run())
        for point, meta in res.meta.items():
            store.set_point_meta(run_id, point, meta)
        store.set_point_meta(run_id, SUMMARY_KEY, {"kind": "agents-summary",
                                                   "agents": summarize_agents(res.records, res.meta), "plan": plan})
        store.finish_run(run_id, "complete")
    return db, run_id, plan


@pytest.fixture(scope="module")
def doc(stored):
    db, _, _ = stored
    with open_store(db) as s:
        return build_document(s, with_reference=False)


def _expected(stored) -> dict:
    db, run_id, _ = stored
    with open_store(db) as s:
        return summarize_agents(s.records(run_id), s.point_meta(run_id))


def test_json_run_entry_holds_the_recomputed_summary_and_stored_plan(stored, doc):
    _, run_id, plan = stored
    json.dumps(doc, allow_nan=False)
    assert doc["schema_version"] == SCHEMA_VERSION
    runs = {r["id"]: r for r in doc["runs"]}
    assert runs[run_id]["agents"]["summary"] == json.loads(json.dumps(_expected(stored)))
    assert runs[run_id]["agents"]["plan"]["fits"] is True
    assert runs[run_id]["agents"]["plan"]["roles"]["main"]["decode_tps_load"] == pytest.approx(
        plan["roles"]["main"]["decode_tps_load"])
    assert runs[run_id]["agents"]["workload"]["turns"] == 3
    assert [r["agents"] for r in doc["runs"] if r["id"] != run_id] == [None]  # sweep runs: no agent entry
    modes = runs[run_id]["agents"]["summary"]["modes"]
    assert set(modes) == {"on", "off"} and all(m["main_decode_tps_load"] > 0 for m in modes.values())


def test_tables_numbers_match_summarize_agents(stored, doc):
    _, run_id, plan = stored
    s = _expected(stored)
    tables = {t["title"]: t for t in agent_tables(doc)}
    load = tables["Agent workloads: main agent alone vs under sub-agent load"]
    by_mode = {row[1]: row for row in load["rows"] if row[0] == run_id}
    for mode, m in s["modes"].items():
        row = dict(zip(load["columns"], by_mode[mode]))
        assert row["Main decode tok/s alone"][0]["text"] == f"{m['main_decode_tps_alone']:,.1f}"
        assert row["Main decode tok/s under load"][0]["text"] == f"{m['main_decode_tps_load']:,.1f}"
        assert row["Load / alone"][0]["text"] == f"{m['load_over_alone']:.2f}"
        assert row["Sub TTFT p50"][0]["text"] == f"{m['sub_ttft_ms']:,.1f}"
        assert row["Makespan s"][0]["text"] == f"{m['makespan_s']:,.2f}"
        assert row["Load / alone (planner)"][0]["provenance"] == "estimated"
        assert row["Main decode tok/s alone"][0]["provenance"] == "measured"
    turns = tables["Agent workloads: main agent TTFT per turn"]
    assert len(turns["rows"]) == len(s["turns"]) == 12  # 2 modes x (alone, load) x 3 turns
    on_load = [r for r in turns["rows"] if r[1:3] == ["load", "on"]]
    assert [r[4] for r in on_load] == ["48", "62", "76"]  # 40 + (t-1)*(8+6) + 8: the context grows
    assert [r[5] for r in on_load] == ["0", "48", "62"]
    beside = tables["Agent workloads: planner beside the measurement"]
    main_on = next(r for r in beside["rows"] if r[1:3] == ["on", "main"])
    assert main_on[3][0]["text"].startswith("fits") and main_on[3][0]["provenance"] == "estimated"
    assert main_on[7][0]["text"] == f"{plan['roles']['main']['decode_tps_load']:,.1f}"
    assert main_on[8][0]["text"] == f"{s['modes']['on']['main_decode_tps_load'] / plan['roles']['main']['decode_tps_load']:.2f}"
    for t in tables.values():
        for row in t["rows"]:
            assert len(row) == len(t["columns"])
            for cell in row:
                assert isinstance(cell, str) or all(e["provenance"] in ("measured", "estimated") for e in cell)


def test_markdown_and_html_have_the_section(stored, doc):
    s = _expected(stored)
    on = s["modes"]["on"]
    md = render_markdown(doc)
    section = md[md.index("## Agent workloads"):]
    assert "### Agent workloads: main agent TTFT per turn" in section
    assert f"{on['main_decode_tps_load']:,.1f} M[^" in section and f"{on['load_over_alone']:.2f} M[^" in section
    assert re.search(r"fits: [\d.]+ GB of [\d.]+ GB \(m3-ultra-80c:512\) E\[\^", section)
    page = render_html(doc)
    assert "<h2>Agent workloads</h2>" in page
    assert f'{on["main_decode_tps_alone"]:,.1f}<span class="tag measured"' in page


def test_no_agent_run_no_section(tmp_path):
    db = tmp_path / "plain.db"
    make_run(db, [dict(depth=0, conc=1, n=3, ttft_s=0.02, itl_s=0.003)])
    with open_store(db) as s:
        d = build_document(s, with_reference=False)
    assert agent_tables(d) == [] and "Agent workloads" not in render_markdown(d)
    assert "Agent workloads" not in render_html(d)


def test_planner_error_is_shown_not_hidden(stored, doc):
    d = json.loads(json.dumps(doc))
    run = next(r for r in d["runs"] if r.get("agents"))
    run["agents"]["plan"] = {"error": "hardware unknown: pass --hardware ID"}
    beside = {t["title"]: t for t in agent_tables(d)}["Agent workloads: planner beside the measurement"]
    assert all(r[3] == "planner: hardware unknown: pass --hardware ID" for r in beside["rows"])
    assert all(r[5] == [] and r[7] == [] for r in beside["rows"])  # no estimate invented


def test_fit_cell_names_servers_roles_and_topology():
    from tokbench.report.agents import _fit_cell

    plan = {"fits": True, "total_bytes": 30e9, "usable_bytes": 100e9, "hardware": "m3-ultra-80c:512",
            "topology": "2x m3-ultra-80c:512 over thunderbolt5, pipeline split",
            "servers": [{"server": "main", "roles": ["main", "sub"], "model": "qwen3-30b-a3b", "quant": "Q4_K_M",
                         "engine": "llama.cpp-server", "total_bytes": 30e9}]}
    texts = [e["text"] for e in _fit_cell(plan)]
    assert texts[0] == "fits: 30.00 GB of 100.00 GB (2x m3-ultra-80c:512 over thunderbolt5, pipeline split)"
    assert texts[1] == "server main: main + sub (qwen3-30b-a3b Q4_K_M, llama.cpp-server, 30.00 GB)"
