"""Bandwidth achieved: measured steps/s x the planner's exact bytes per step, % of the hardware's."""

from __future__ import annotations

import pytest

from tokbench.modelspec import load_spec
from tokbench.plan import estimate
from tokbench.report.bandwidth import achieved, attach, mean_decode_depth, step_bytes_of, text


def test_single_stream_bytes_are_the_planners_bytes_per_token():
    spec = load_spec("qwen3-30b-a3b")
    row = estimate(spec, "Q4_K_M", "m3-ultra-80c", context=4096, depth=4096)
    assert step_bytes_of(spec, "Q4_K_M", 4096, 1) == pytest.approx(row.bytes_per_token)


def test_more_streams_read_more_experts_and_kv_per_step():
    spec = load_spec("qwen3-30b-a3b")
    one, eight = step_bytes_of(spec, "Q4_K_M", 4096, 1), step_bytes_of(spec, "Q4_K_M", 4096, 8)
    assert one < eight < 8 * one  # weights are shared by the batch, KV is not, experts partly


def test_achieved_and_text():
    bw = achieved(50.0, 8e9, 800.0)
    assert bw["gbs"] == pytest.approx(400.0) and bw["pct"] == pytest.approx(50.0)
    assert text(bw) == "400.0 GB/s, 50%"
    assert text(achieved(50.0, 8e9, None)) == "400.0 GB/s"  # no peak known: no percentage
    assert achieved(None, 8e9, 800.0) is None and achieved(50.0, None, 800.0) is None and text(None) == ""


def test_attach_uses_the_mean_decode_depth():
    spec = load_spec("qwen3-30b-a3b")
    rows = [{"context_depth": 4000, "concurrency": 1, "ok": 2, "output_tokens": 256,
             "decode_tps_per_stream": {"p50": 40.0}}, {"context_depth": 0, "concurrency": 1,
                                                      "decode_tps_per_stream": {"p50": None}}]
    attach(rows, spec, "Q4_K_M", 819.0)
    assert mean_decode_depth(rows[0]) == 4064
    want = 40.0 * step_bytes_of(spec, "Q4_K_M", 4064, 1) / 1e9
    assert rows[0]["bandwidth"]["gbs"] == pytest.approx(want) and rows[0]["bandwidth"]["pct"] == pytest.approx(
        want / 819.0 * 100)
    assert "bandwidth" not in rows[1]
    assert step_bytes_of(None, "Q4_K_M", 0) is None
