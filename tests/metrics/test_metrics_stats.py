"""Percentiles, t critical values and confidence intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokbench.metrics.stats import ci95, distribution, percentile, stdev, t_critical_95


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.floats(0, 100))
def test_percentile_matches_numpy_linear(xs, q):
    assert percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)), rel=1e-9, abs=1e-6)


def test_percentile_edges():
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert distribution([]) == {"p50": None, "p90": None, "p99": None, "mean": None}


@pytest.mark.parametrize("df,t", [(1, 12.706), (9, 2.262), (30, 2.042), (31, 2.0395), (40, 2.0211),
                                  (60, 2.0003), (120, 1.9799), (10**6, 1.96)])
def test_t_critical(df, t):
    assert t_critical_95(df) == pytest.approx(t, abs=6e-4)


def test_t_critical_monotone():
    vals = [t_critical_95(d) for d in range(1, 500)]
    assert all(a > b for a, b in zip(vals, vals[1:]))


def test_ci95_known_example():
    xs = [10.0, 12.0, 11.0, 13.0, 9.0]  # mean 11, sd sqrt(2.5), t(4) = 2.776
    out = ci95(xs)
    half = 2.776 * math.sqrt(2.5) / math.sqrt(5)
    assert out["mean"] == 11.0 and out["sd"] == pytest.approx(math.sqrt(2.5))
    assert out["low"] == pytest.approx(11 - half) and out["high"] == pytest.approx(11 + half)
    assert ci95([5.0])["low"] is None and ci95([])["mean"] is None
    assert stdev([1.0]) is None


@pytest.mark.parametrize("n,j,cover", [(5, 1, 0.9375), (6, 1, 0.96875), (10, 2, 0.978515625), (20, 6, 0.958611)])
def test_median_interval_is_the_binomial_order_statistics(n, j, cover):
    from tokbench.metrics.stats import median_ci95

    ci = median_ci95([float(i) for i in range(n)])
    assert (ci["low"], ci["high"]) == (j - 1, n - j) and ci["coverage"] == pytest.approx(cover, abs=1e-6)


@given(st.lists(st.floats(0, 1e4), min_size=1, max_size=300))
def test_median_interval_holds_the_median(xs):
    from tokbench.metrics.stats import median_ci95

    ci = median_ci95(xs)
    assert ci["low"] <= ci["p50"] <= ci["high"] and 0 <= ci["coverage"] <= 1
