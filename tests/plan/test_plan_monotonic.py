"""Speed model sanity on every backend and level: more bytes, deeper context or more sequences never help."""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokbench.catalog.calibration import get_calibration
from tokbench.catalog.hardware import get_hardware
from tokbench.modelspec import load_spec
from tokbench.plan.speed import decode, step_time
from tokbench.plan.work import TypeWork, work_profile

CASES = [("llama-3.1-8b", "Q4_K_M"), ("qwen3-30b-a3b", "Q8_0"), ("gpt-oss-120b", "MXFP4_MOE"),
         ("qwen3-next-80b-a3b", "Q4_K_M")]
_SPECS = {m: load_spec(m) for m, _ in CASES}
_WB = {(m, q): work_profile(_SPECS[m], q) for m, q in CASES}
# Fitted chip, same generation, extrapolated generation; llama.cpp in process, behind a server, and MLX.
MACHINES = [("h100-sxm", "llama.cpp"), ("h200", "llama.cpp-server"), ("rtx-4090", "llama.cpp"),
            ("dgx-spark", "llama.cpp"), ("m3-ultra-80c", "llama.cpp"), ("m4-max-40c", "mlx"),
            ("ryzen-ai-max-395", "llama.cpp")]
CALS = [(get_hardware(h), get_calibration(get_hardware(h), e)) for h, e in MACHINES]


def _args(data):
    m, q = data.draw(st.sampled_from(CASES))
    hw, cal = data.draw(st.sampled_from(CALS))
    return _SPECS[m], _WB[(m, q)], hw, cal


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
@given(st.data(), st.sampled_from(["F16", "Q8_0", "Q4_K", "Q6_K", "MXFP4", "IQ2_XXS"]), st.floats(1.0, 4.0),
       st.booleans())
def test_more_weights_are_never_faster(data, ty, factor, experts):
    spec, work, hw, cal = _args(data)
    old = work.types.get(ty, TypeWork())
    grow = (lambda v: int(v * factor) + 1_000_000)
    if experts and spec.n_experts:
        new = replace(old, expert_bytes=grow(old.expert_bytes), expert_elems=grow(old.expert_elems))
    else:
        new = replace(old, dense_bytes=grow(old.dense_bytes), dense_elems=grow(old.dense_elems))
    bigger = replace(work, types={**work.types, ty: new})
    assert step_time(spec, bigger, hw, cal, 4096)[0] > step_time(spec, work, hw, cal, 4096)[0]


def test_moe_experts_touched_follow_the_draw_formula():
    spec, wb = _SPECS["qwen3-30b-a3b"], _WB[("qwen3-30b-a3b", "Q8_0")]
    hw = get_hardware("h100-sxm")
    cal0 = replace(get_calibration(hw, "llama.cpp"), kappa=0.0)  # weights read, no per-column work
    t1, t8 = step_time(spec, wb, hw, cal0, 0, concurrency=1)[0], step_time(spec, wb, hw, cal0, 0, concurrency=8)[0]
    k, e = spec.n_experts_used, spec.n_experts
    touched = e * (1 - (1 - k / e) ** 8)
    assert touched / k > 6  # 8 tokens touch ~6.5x the experts one token does (128 experts, top-8)
    assert t1 < t8 < t1 * touched / k


@pytest.mark.parametrize("n", [8, 32])
def test_concurrency_rows_against_measurements(n):
    # H100 llama-server -np 8 (synthetic 3B, 169 tok/s per stream, estimated as llama.cpp-server) and DGX Spark
    # batched-bench B=32 (qwen2.5-7b 593 tok/s aggregate), both in the fit; the estimate lands within 35% of both.
    from tokbench.plan import estimate

    if n == 8:
        from tokbench.report.reference import model_spec

        row = estimate(model_spec("synthetic-llama-3b"), "Q4_K_M", "h100-sxm", "llama.cpp-server", context=1,
                       concurrency=8)
        assert row.per_stream_decode_tps == pytest.approx(169.3, rel=0.35)
    else:
        row = estimate("qwen2.5-7b", "Q8_0", "dgx-spark", context=528, concurrency=32)
        assert row.aggregate_decode_tps == pytest.approx(593.3, rel=0.35)
