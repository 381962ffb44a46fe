"""The bench terminal tables: bandwidth achieved (GB/s, % of the hardware's) beside every decode figure."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from rich.console import Console

sys.path.insert(0, str(Path(__file__).parents[1] / "report"))
from tb_report_runs import make_run  # noqa: E402

from tokbench.cli.bench_render import render, render_plan  # noqa: E402
from tokbench.report.results import run_result  # noqa: E402
from tokbench.store import open_store  # noqa: E402

IDENT = {"model_id": "synthetic-llama-3b", "quant": "Q4_K_M", "hardware_id": "h100-sxm", "engine": "llama.cpp",
         "engine_version": "0.3.16", "bench_engine": "llama.cpp", "topology": {"nodes": 1, "gpus": 1}}


def test_decode_figures_carry_bandwidth_achieved(tmp_path):
    db = tmp_path / "b.db"
    rid = make_run(db, [dict(depth=512, conc=1, n=4, ttft_s=0.02, itl_s=0.004),
                        dict(depth=512, conc=8, n=8, ttft_s=0.05, itl_s=0.01)],
                   config={"identity": IDENT, "kinds": {"c=1 d=512": "single", "c=8 d=512": "sweep"}})
    with open_store(db) as store:
        res = run_result(store, rid)
    rows = {r["point"]: r for r in res.results}
    single, sweep = rows["c=1 d=512"]["bandwidth"], rows["c=8 d=512"]["bandwidth"]
    assert single["peak_gbs"] == 3350 and single["pct"] == pytest.approx(single["gbs"] / 3350 * 100)
    # The same model reads more per step with 8 sequences (their KV), at a lower per-stream rate.
    assert sweep["gb_per_step"] > single["gb_per_step"]
    con = Console(record=True, width=220)
    render(con, "t", res.results, res.kinds)
    render_plan(con, res.plan, res.planner_note)
    out = con.export_text()
    assert "GB/s" in out and "% of BW" in out
    assert f"{single['gbs']:,.1f}" in out and f"{single['pct']:.0f}%" in out and f"{sweep['gbs']:,.1f}" in out
    assert "3,350 GB/s" in out  # the peak the % is of, said once
    level = res.plan["calibration"]["level_text"]
    assert level in out  # the estimate's basis beside its band
