"""benchmarks/gpu/preregister.py --cluster: the two-GPU rows are the cluster planner's, per llama.cpp split
mode, for decode (tg128) and prefill (pp512) at depth 0 and 4096, each with its band; the committed
pre-registration names the models that had not been measured in a split and records its commit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "gpu"))

import preregister  # noqa: E402


def test_cluster_rows_are_plan_cluster_at_llama_bench_depths():
    from tokbench.plan.cluster import Topology, get_link, parse_nodes, plan_cluster
    from tokbench.report.reference import model_spec

    rows = preregister.cluster_rows("h200", 2, ["gemma-3-27b:Q4_K_M"], ["rpc"])
    assert [(r["test"], r["metric"]) for r in rows] == [
        ("tg128 @ d0", "decode_tps"), ("pp512 @ d0", "prefill_tps"),
        ("tg128 @ d4096", "decode_tps"), ("pp512 @ d4096", "prefill_tps")]
    topo = Topology(parse_nodes("2x h200"), get_link("loopback"), "pipeline")
    pp = plan_cluster(model_spec("gemma-3-27b"), "Q4_K_M", topo, "llama.cpp", context=4096 + 512, prompt_tokens=512,
                      prompt_depth=4096 + 256)
    assert rows[3]["predicted"] == pytest.approx(pp.prefill_tps)
    tg = plan_cluster(model_spec("gemma-3-27b"), "Q4_K_M", topo, "llama.cpp", context=128, depth=64)
    assert rows[0]["predicted"] == pytest.approx(tg.decode_tps)
    for r in rows:
        assert r["low"] < r["predicted"] < r["high"] and r["run"] == "rpc" and r["split"] == "pipeline"


def test_committed_preregistration_covers_the_unmeasured_models_and_its_commit_exists():
    doc = json.loads((ROOT / "data/h200_campaign/preregistered_x2_2026-11-30.json").read_text())
    want = {"qwen2.5-32b", "gpt-oss-120b", "qwen3-next-80b-a3b", "qwen3-30b-a3b", "gemma-3-27b"}
    assert {r["model"] for r in doc["rows"]} == want and not doc["git_dirty"]
    assert {(r["run"], r["test"]) for r in doc["rows"]} == {
        (run, f"{t} @ d{d}") for run in ("sm-layer", "sm-tensor", "rpc") for t in ("tg128", "pp512") for d in (0, 4096)}
    assert all(r["low"] < r["predicted"] < r["high"] for r in doc["rows"])
    r = subprocess.run(["git", "cat-file", "-t", doc["git_commit"]], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0 and "not a git repository" in r.stderr:
        pytest.skip("no git history in this checkout")
    assert r.stdout.strip() == "commit"


def test_single_gpu_rows_at_chosen_depths_carry_the_prefill_band_and_the_set_report_joins_them(tmp_path):
    from tokbench.plan import estimate

    rows = preregister.llama_bench_rows("h200", ["llama-3.2-3b:Q4_K_M"], (0, 16384))
    assert [r["test"] for r in rows] == ["tg128 @ d0", "pp512 @ d0", "tg128 @ d16384", "pp512 @ d16384"]
    pp = estimate("llama-3.2-3b", "Q4_K_M", "h200", "llama.cpp", context=2 * (16384 + 256))
    assert rows[3]["predicted"] == pytest.approx(pp.prefill_tps)
    assert rows[3]["low"] == pytest.approx(pp.prefill_tps_low) and rows[3]["high"] == pytest.approx(pp.prefill_tps_high)
    # The set's report: a measured llama-bench row joins its prediction by model, quant and test.
    import h200_set_report

    pred = tmp_path / "p.json"
    pred.write_text(json.dumps({"git_commit": "abc1234", "date": "2026-11-30", "rows": rows}))
    raw = tmp_path / "campaign.jsonl"
    measured = {"n_prompt": 512, "n_gen": 0, "n_depth": 16384, "avg_ts": rows[3]["predicted"] / 1.25, "stddev_ts": 1.0}
    raw.write_text(json.dumps({"model": "llama-3.2-3b", "quant": "Q4_K_M", "kind": "synth"}) + "\n"
                   + json.dumps({"model": "llama-3.2-3b", "quant": "Q4_K_M", "kind": "llama-bench", "row": measured}) + "\n")
    text, summ = h200_set_report.report(pred, [raw])
    assert summ == {"prefill_tps": {"n": 1, "mape": pytest.approx(25.0), "bias": pytest.approx(25.0),
                                    "inside": 100.0 * (rows[3]["low"] <= measured["avg_ts"] <= rows[3]["high"])}}
    assert "| llama-3.2-3b | Q4_K_M | llama.cpp | pp512 @ d16384 |" in text


def test_server_only_rows_and_their_sweeps_join_in_the_set_report(tmp_path):
    # A later server set: llama-server rows of other models, joined with tokbench bench's sweep points
    # (per-stream median), summed apart at 1 request and at 8 and 16 concurrent.
    import h200_set_report

    rows = preregister.server_rows("h200", ["qwen3-14b:Q4_K_M"])
    assert [r["test"] for r in rows] == ["1 stream @ d4096", "sweep c=1 prompt 512", "sweep c=8 prompt 512",
                                         "sweep c=16 prompt 512"]
    assert {r["engine"] for r in rows} == {"llama.cpp-server"} and rows[2]["low"] is None
    pred = tmp_path / "p.json"
    pred.write_text(json.dumps({"git_commit": "abc1234", "date": "2026-11-30", "rows": rows}))
    points = [{"concurrency": c, "decode_tps_per_stream": {"p50": rows[i]["predicted"] / 1.1}}
              for i, c in ((1, 1), (2, 8), (3, 16))]
    raw = tmp_path / "campaign.jsonl"
    raw.write_text(json.dumps({"model": "qwen3-14b", "quant": "Q4_K_M", "kind": "tokbench-bench", "label": "sweep",
                               "result": {"results": points}}) + "\n")
    text, summ = h200_set_report.report(pred, [raw])
    assert set(summ) == {"per stream, 1 request", "per stream, 8 and 16 concurrent"}
    assert summ["per stream, 8 and 16 concurrent"]["n"] == 2 and summ["per stream, 8 and 16 concurrent"]["inside"] is None
    assert summ["per stream, 1 request"]["mape"] == pytest.approx(10.0)
    assert "| qwen3-14b | Q4_K_M | llama.cpp-server | sweep c=8 prompt 512 |" in text


def test_set_report_names_prefill_series_that_rise_with_depth():
    # The fit's rule for published series, applied to a set: a deeper start that runs more than 1.25x as fast
    # as a shallower one timed a one-off cost (set 4's qwen3.5-122b-a10b: 1915 tok/s at depth 0, 3728 at 16384).
    import h200_set_report

    def pp(model, depth, tps):
        return {"model": model, "quant": "Q4_K_M", "test": f"pp512 @ d{depth}", "metric": "prefill_tps", "measured": tps}

    rows = [pp("a", 0, 1915.0), pp("a", 16384, 3728.0), pp("a", 32768, 3413.0),
            pp("b", 0, 1000.0), pp("b", 16384, 1240.0), pp("b", 32768, 700.0)]
    assert h200_set_report.rising_series(rows) == {("a", "Q4_K_M")}
