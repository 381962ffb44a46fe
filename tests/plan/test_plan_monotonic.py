"""Speed model sanity on every calibration row: more bytes, deeper context or more sequences never help."""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokbench.catalog.calibration import DEFAULTS, calibration_rows
from tokbench.catalog.hardware import get_hardware
from tokbench.plan.memory import weight_bytes
from tokbench.plan.speed import decode, step_time
from tokbench.modelspec import load_spec

CALS = list(calibration_rows().values()) + list(DEFAULTS.values())
CASES = [("llama-3.1-8b", "Q4_K_M"), ("qwen3-30b-a3b", "Q8_0"), ("gpt-oss-120b", "MXFP4_MOE"),
         ("qwen3-next-80b-a3b", "Q4_K_M")]
_SPECS = {m: load_spec(m) for m, _ in CASES}
_WB = {(m, q): weight_bytes(_SPECS[m], q) for m, q in CASES}
# Each calibration row on the kind of machine it describes (its per-sequence cost is relative to that chip).
HW_OF = {"h100-sxm": "h100-sxm", "nvidia": "rtx-4090", "nvidia-unified": "dgx-spark", "apple": "m3-ultra-80c",
         "amd": "ryzen-ai-max-395", "cpu": "ryzen-ai-max-395"}


def _args(data):
    m, q = data.draw(st.sampled_from(CASES))
    cal = data.draw(st.sampled_from(CALS))
    return _SPECS[m], _WB[(m, q)], get_hardware(HW_OF[cal.family]), cal


@settings(max_examples=60, deadline=None)
@given(st.data(), st.integers(0, 200_000), st.integers(1, 100_000))
def test_deeper_context_is_never_faster(data, depth, more):
    spec, wb, hw, cal = _args(data)
    assert step_time(spec, wb, hw, cal, depth + more)[0] >= step_time(spec, wb, hw, cal, depth)[0]


@settings(max_examples=60, deadline=None)
@given(st.data(), st.integers(1, 128), st.integers(1, 64), st.integers(0, 65_536))
def test_more_sequences_never_raise_per_stream_speed(data, n, more, depth):
    spec, wb, hw, cal = _args(data)
    a, b = decode(spec, wb, hw, cal, depth, concurrency=n), decode(spec, wb, hw, cal, depth, concurrency=n + more)
    assert b.per_stream_tps <= a.per_stream_tps * (1 + 1e-12)
    assert b.aggregate_tps >= a.per_stream_tps * (1 - 1e-12)  # N streams never total less than one stream


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(["float", "block", "kquant", "table"]), st.floats(1.0, 4.0), st.booleans())
def test_more_bytes_are_never_faster(data, cls, factor, experts):
    spec, wb, hw, cal = _args(data)
    field = "experts_by_class" if experts else "dense_by_class"
    grown = dict(getattr(wb, field))
    grown[cls] = grown.get(cls, 0) * factor + 1_000_000
    bigger = replace(wb, **{field: grown})
    assert step_time(spec, bigger, hw, cal, 4096)[0] > step_time(spec, wb, hw, cal, 4096)[0]


def test_moe_experts_touched_follow_the_draw_formula():
    spec, wb = _SPECS["qwen3-30b-a3b"], _WB[("qwen3-30b-a3b", "Q8_0")]
    cal = calibration_rows()[("h100-sxm", "llama.cpp")]
    hw = get_hardware("h100-sxm")
    cal0 = replace(cal, decode_batch_eff=None)  # weights + KV only
    t1, t8 = step_time(spec, wb, hw, cal0, 0, concurrency=1)[0], step_time(spec, wb, hw, cal0, 0, concurrency=8)[0]
    k, e = spec.n_experts_used, spec.n_experts
    touched = e * (1 - (1 - k / e) ** 8)
    assert touched / k > 6  # 8 tokens touch ~6.5x the experts one token does (128 experts, top-8)
    assert t1 < t8 < t1 * touched / k


@pytest.mark.parametrize("n", [8, 32])
def test_concurrency_rows_against_measurements(n):
    # H100 llama-server -np 8 (synthetic 3B, 169 tok/s per stream: fit, estimated as llama.cpp-server) and DGX Spark batched-bench
    # B=32 (qwen2.5-7b 593 tok/s aggregate: fit); the estimate must land within 35% of both.
    from tokbench.plan import estimate

    if n == 8:
        from tokbench.report.reference import model_spec

        row = estimate(model_spec("synthetic-llama-3b"), "Q4_K_M", "h100-sxm", "llama.cpp-server", context=1,
                       concurrency=8)
        assert row.per_stream_decode_tps == pytest.approx(169.3, rel=0.35)
    else:
        row = estimate("qwen2.5-7b", "Q8_0", "dgx-spark", context=528, concurrency=32)
        assert row.aggregate_decode_tps == pytest.approx(593.3, rel=0.35)
