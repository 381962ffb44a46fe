"""The planner against published rows and stored runs (tokbench.report.validate)."""

from __future__ import annotations

import pytest

from tb_report_runs import make_run
from tokbench.plan import estimate as plan_estimate
from tokbench.report.reference import model_spec
from tokbench.report.validate import hardware_family, summarize, validate
from tokbench.store import open_store

KEYS = {"model", "quant", "hardware", "engine", "context", "measured_tps", "estimated_tps", "error_pct", "source"}


@pytest.fixture(scope="module")
def published():
    return validate(None)


def test_published_rows_are_matched_with_errors(published):
    rows = published["rows"]
    assert len(rows) >= 40
    for r in rows:
        assert KEYS <= set(r)
        assert r["error_pct"] == pytest.approx(100 * (r["estimated_tps"] - r["measured_tps"]) / r["measured_tps"])
    # Blog estimates are never used as the truth.
    assert all(r["provenance"] in ("measured", "reported") for r in rows)
    sources = {r["source"] for r in rows}
    assert "https://blog.olares.com/local-ai-hardware-performance-benchmarking/" in sources


def test_estimate_in_row_is_the_planners(published):
    r = next(r for r in published["rows"] if r["hardware"] == "h100-sxm" and r["model"] == "synthetic-llama-3b"
             and r["quant"] == "Q4_K_M" and r["context"] == 4160)
    want = plan_estimate(model_spec("synthetic-llama-3b"), "Q4_K_M", "h100-sxm:80", engine="llama.cpp",
                         context=4160, concurrency=1).decode_tps
    assert r["estimated_tps"] == pytest.approx(want)
    assert r["measured_tps"] == 411.84


def test_summary_mape_by_group(published):
    s = published["summary"]
    rows = published["rows"]
    assert s["all"]["n"] == len(rows)
    assert s["all"]["mape_pct"] == pytest.approx(sum(abs(r["error_pct"]) for r in rows) / len(rows))
    fam = s["by_hardware_family"]
    assert {"apple-m3", "nvidia-gb10", "nvidia-datacenter"} <= set(fam)
    assert sum(g["n"] for g in fam.values()) == len(rows)
    # Rows that cannot be matched are listed with a reason, never dropped silently.
    assert any("not stated" in k["reason"] for k in s["skipped"])


def test_summarize_small_example():
    rows = [{"engine": "llama.cpp", "hardware": "m1", "metric": "decode_tps", "error_pct": 10.0},
            {"engine": "llama.cpp", "hardware": "rtx-4090", "metric": "decode_tps", "error_pct": -30.0}]
    s = summarize(rows, [])
    assert s["all"] == {"n": 2, "mape_pct": 20.0, "bias_pct": -10.0}
    assert s["by_hardware_family"]["nvidia-geforce"]["mape_pct"] == 30.0


@pytest.mark.parametrize("hw,fam", [("m3-ultra-80c", "apple-m3"), ("dgx-spark", "nvidia-gb10"),
                                    ("h100-sxm:80", "nvidia-datacenter"), ("rtx-5090", "nvidia-geforce"),
                                    ("ryzen-ai-max-395", "amd"), ("nope", "unknown")])
def test_hardware_family(hw, fam):
    assert hardware_family(hw) == fam


def test_stored_run_with_known_hardware_is_validated(tmp_path):
    db = tmp_path / "v.db"
    run = make_run(db, [dict(depth=0, conc=1, n=4, ttft_s=0.01, itl_s=0.0025)])  # 400 tok/s on h100-sxm
    other = make_run(db, [dict(depth=0, conc=1, n=4, ttft_s=0.01, itl_s=0.01)],
                     environment={"host": "x"})  # no hardware: listed as skipped
    with open_store(db) as s:
        out = validate(s)
    mine = [r for r in out["rows"] if r["source"] == f"run {run}"]
    assert len(mine) == 1
    assert mine[0]["measured_tps"] == pytest.approx(400, rel=0.03)
    assert mine[0]["hardware"] == "h100-sxm" and mine[0]["provenance"] == "measured"
    assert any(k["source"] == f"run {other}" for k in out["summary"]["skipped"])


def test_imported_llama_bench_rows_are_checked_per_depth(tmp_path):
    """The real H200 llama-bench file: decode and prefill rows per depth, labelled imported, never 'fit'."""
    from pathlib import Path

    from tokbench.report.validate import run_rows_validation
    from tokbench.store.importers import read_file, store_import

    fix = Path(__file__).parents[1] / "store" / "fixtures" / "llama-bench-h200.jsonl"
    with open_store(tmp_path / "v.db") as store:
        imp = next(i for i in read_file(fix) if i.identity["model_id"] == "llama-3.1-8b" and i.identity["quant"] == "Q8_0")
        run = store_import(store, imp)
        skipped: list = []
        rows = run_rows_validation(store, skipped, [run])
    assert skipped == [] and len(rows) == 4
    assert {(r["metric"], r["context"]) for r in rows} == {("decode_tps", 64), ("decode_tps", 4160),
                                                          ("prefill_tps", 256), ("prefill_tps", 4352)}
    for r in rows:
        assert (r["role"], r["label"], r["hardware"], r["engine"]) == ("imported", "imported (llama-bench)", "h200",
                                                                      "llama.cpp")
        assert fix.name in r["source"] and run in r["source"]
        # the estimate is the planner's for that test (benchmarks/gpu/preregister.py's convention)
        ctx = r["context"] * (2 if r["metric"] == "prefill_tps" else 1)
        est = plan_estimate(model_spec("llama-3.1-8b"), "Q8_0", "h200", engine="llama.cpp", context=ctx)
        assert r["estimated_tps"] == pytest.approx(getattr(est, r["metric"]))
    assert summarize(rows, [])["by_engine_hardware_role"]["llama.cpp x h200"]["imported"]["n"] == 4


def test_multi_gpu_import_is_skipped_with_its_reason(tmp_path):
    import json
    from pathlib import Path

    from tokbench.report.validate import run_rows_validation
    from tokbench.store.importers import read_file, store_import

    fix = Path(__file__).parents[1] / "store" / "fixtures" / "llama-bench-h200.jsonl"
    path = tmp_path / "two.jsonl"
    path.write_text("".join(json.dumps({**json.loads(x), "gpu_info": "NVIDIA H200, NVIDIA H200"}) + "\n"
                            for x in fix.read_text().splitlines()[:4]))
    with open_store(tmp_path / "v.db") as store:
        run = store_import(store, *read_file(path))
        skipped: list = []
        assert run_rows_validation(store, skipped, [run]) == []
    assert "2 GPUs (pipeline)" in skipped[0]["reason"]
