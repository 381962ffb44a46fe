"""Welch comparison of stored runs (tokbench.report.compare)."""

from __future__ import annotations

import math
import random

import pytest

from tb_report_runs import make_records, make_run
from tokbench.errors import UserError
from tokbench.report.compare import FASTER, INSUFFICIENT, SAME, SLOWER, compare_records, regressions, welch, verdict
from tokbench.store import open_store


def test_welch_matches_hand_computation():
    a, b = [10.0, 12.0, 11.0, 13.0], [14.0, 15.0, 13.0, 18.0, 16.0]
    ci = welch(a, b)
    ma, mb = 11.5, 15.2
    va, vb = sum((x - ma) ** 2 for x in a) / 3, sum((x - mb) ** 2 for x in b) / 4
    se = math.sqrt(va / 4 + vb / 5)
    df = (va / 4 + vb / 5) ** 2 / ((va / 4) ** 2 / 3 + (vb / 5) ** 2 / 4)
    assert ci["diff"] == pytest.approx(3.7)
    assert ci["se"] == pytest.approx(se)
    assert ci["df"] == pytest.approx(df)
    # df is about 6.9 -> floored to 6: t(0.975, 6) = 2.447
    assert ci["high"] - ci["diff"] == pytest.approx(2.447 * se)


def test_welch_coverage_is_about_95_percent():
    """Equal means drawn repeatedly: the interval should contain 0 in roughly 95% of trials."""
    rng = random.Random(1)
    hits = 0
    for _ in range(400):
        a = [rng.gauss(100, 5) for _ in range(12)]
        b = [rng.gauss(100, 15) for _ in range(9)]
        ci = welch(a, b)
        hits += ci["low"] <= 0 <= ci["high"]
    assert 0.90 <= hits / 400 <= 0.99


def test_verdicts_follow_direction():
    assert verdict(None, True) == INSUFFICIENT
    assert verdict({"diff": 5, "low": 1, "high": 9}, True) == FASTER
    assert verdict({"diff": 5, "low": 1, "high": 9}, False) == SLOWER  # latency went up
    assert verdict({"diff": -5, "low": -9, "high": -1}, False) == FASTER
    assert verdict({"diff": 1, "low": -1, "high": 3}, True) == SAME


def test_compare_stored_runs_detects_slower_decode(tmp_path):
    db = tmp_path / "t.db"
    a = make_run(db, [dict(depth=0, conc=1, n=10, ttft_s=0.05, itl_s=0.010)], seed=1)
    b = make_run(db, [dict(depth=0, conc=1, n=10, ttft_s=0.05, itl_s=0.0125)], seed=2)
    with open_store(db) as s:
        rows = compare_records(s.records(a), s.records(b))
    by = {r["metric"]: r for r in rows}
    dec = by["decode_tps_per_stream"]
    assert dec["verdict"] == SLOWER
    assert dec["diff_pct"] == pytest.approx(-20, abs=3)  # 100 -> 80 tok/s
    assert dec["ci_low_pct"] < dec["diff_pct"] < dec["ci_high_pct"]
    assert by["tpot_ms"]["verdict"] == SLOWER
    assert by["ttft_ms"]["verdict"] == SAME  # same TTFT distribution
    assert [r["metric"] for r in regressions(rows, 10)] == ["decode_tps_per_stream", "tpot_ms", "e2e_ms"]
    assert regressions(rows, 30) == []


def test_compare_ignores_errors_and_needs_common_points():
    a = make_records(0, 1, 5, 0.05, 0.01, seed=1, errors=3)
    b = make_records(0, 1, 5, 0.05, 0.01, seed=2)
    rows = compare_records(a, b)
    assert all(r["n_a"] == 5 for r in rows if r["metric"] != "ttft_ms") and rows[0]["n_a"] == 5
    with pytest.raises(UserError, match="share no sweep point"):
        compare_records(a, make_records(4096, 8, 5, 0.05, 0.01))


def test_single_request_is_insufficient():
    rows = compare_records(make_records(0, 1, 1, 0.05, 0.01), make_records(0, 1, 1, 0.05, 0.02))
    assert {r["verdict"] for r in rows} == {INSUFFICIENT}
    assert rows[0]["ci_low"] is None
