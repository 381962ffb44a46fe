"""The planner's estimate beside each measured point."""

import pytest

from tokbench.catalog.hardware import get_hardware
from tokbench.report.planview import point_estimates


def test_band_follows_the_per_stream_estimate_at_concurrency():
    ident = {"model_id": "llama-3.1-8b", "quant": "Q4_K_M", "engine": "llama.cpp-server"}
    rows = [{"point": "c=1", "context_depth": 512, "concurrency": 1, "ok": 16, "output_tokens": 16 * 128,
             "requests": 16},
            {"point": "c=8", "context_depth": 512, "concurrency": 8, "ok": 16, "output_tokens": 16 * 128,
             "requests": 16}]
    est = point_estimates(ident, None, get_hardware("h100-sxm"), rows)
    one, eight = est["c=1"], est["c=8"]
    assert eight["decode_tps"] < one["decode_tps"] / 2  # eight streams share the GPU
    for e in (one, eight):  # the estimate sits inside its own band, with the same relative width
        assert e["low"] < e["decode_tps"] < e["high"]
    assert eight["low"] / eight["decode_tps"] == pytest.approx(one["low"] / one["decode_tps"], rel=0.05)
