"""Per-point summaries from raw records: definitions, outcome split, ordering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokbench.errors import UserError
from tokbench.metrics import decode_tps, itl_ms, summarize_point, summarize_run, tpot_ms
from tokbench.records import RequestRecord

RESULT_KEYS = {"concurrency", "context_depth", "requests", "ok", "errors", "ttft_ms", "tpot_ms", "itl_ms",
               "e2e_ms", "decode_tps_per_stream", "aggregate_output_tps", "output_tokens"}


def rec(i=0, t0=0.0, times=(0.1, 0.2, 0.3, 0.4), end=None, **kw) -> RequestRecord:
    base = dict(point="c=1 d=0", index=i, concurrency=1, context_depth=0, prompt_tokens=100,
                gen_tokens_requested=len(times), t_start=t0, t_first_token=t0 + times[0] if times else None,
                t_end=t0 + (end if end is not None else (times[-1] if times else 0.5)),
                token_times=[t0 + t for t in times], output_tokens=len(times))
    base.update(kw)
    return RequestRecord(**base)


def test_single_request_definitions():
    r = rec(times=(0.2, 0.3, 0.3, 0.3, 0.6), end=0.6)  # a 3-token chunk at 0.3
    assert itl_ms(r) == pytest.approx([100 / 3] * 3 + [300])  # per token: the chunk's gap spread over its 3 tokens
    assert tpot_ms(r) == pytest.approx((600 - 200) / 4)
    assert decode_tps(r) == pytest.approx(4 / 0.4)
    # a first chunk of 2 tokens: they arrived with the first token, so they are not "after" it
    r2 = rec(times=(0.2, 0.2, 0.3, 0.4), end=0.4)
    assert itl_ms(r2) == pytest.approx([100, 100]) and decode_tps(r2) == pytest.approx(2 / 0.2)
    assert tpot_ms(r2) == pytest.approx(100)
    s = summarize_point([r])
    assert RESULT_KEYS <= set(s)
    assert s["ttft_ms"]["p50"] == pytest.approx(200) and s["e2e_ms"]["mean"] == pytest.approx(600)
    assert s["itl_ms"]["mean"] == pytest.approx(100) and s["itl_ms"]["p50"] == pytest.approx(100 / 3)
    assert s["decode_tps_per_stream"] == {"mean": pytest.approx(10), "p50": pytest.approx(10)}
    assert s["prefill_tps"]["mean"] == pytest.approx(100 / 0.2)
    assert s["output_tokens"] == 5 and s["aggregate_output_tps"] == pytest.approx(5 / 0.6)


def test_aggregate_over_point_window_and_failures_excluded():
    recs = [rec(0, t0=0.0, times=(0.1, 0.2, 0.3), end=1.0, concurrency=2),
            rec(1, t0=0.5, times=(0.1, 0.2, 0.3), end=1.5, concurrency=2),
            rec(2, t0=0.2, times=(), end=0.3, status="error", error_class="http_503", output_tokens=0, concurrency=2),
            rec(3, t0=0.3, times=(0.1, 9.0), end=9.0, status="incomplete", error_class="timeout_idle", concurrency=2),
            rec(4, t0=-5.0, times=(0.1, 0.2), warmup=True, concurrency=2)]
    s = summarize_point(recs)
    assert (s["requests"], s["ok"], s["errors"], s["incomplete"], s["warmup"]) == (4, 2, 1, 1, 1)
    assert s["error_classes"] == {"http_503": 1} and s["incomplete_classes"] == {"timeout_idle": 1}
    # window: min start 0.0 .. max end 9.3 (the incomplete request still ran), tokens of ok only
    assert s["duration_s"] == pytest.approx(9.3)
    assert s["output_tokens"] == 6 and s["aggregate_output_tps"] == pytest.approx(6 / 9.3)
    assert s["e2e_ms"]["mean"] == pytest.approx(1250)  # (1.0 + 1.5) / 2: the 9 s incomplete request is not in latency
    assert s["request_throughput"] == pytest.approx(2 / 9.3)


def test_usage_count_wins_and_mismatch_flagged():
    r = rec(times=(0.1, 0.2, 0.3, 0.4), usage_output_tokens=7)
    s = summarize_point([r, rec(1, usage_output_tokens=4)])
    assert s["token_mismatch"] == 1 and s["output_tokens"] == 11
    assert tpot_ms(r) == pytest.approx((400 - 100) / 6)


def test_goodput_and_bad_slo():
    recs = [rec(0, times=(0.1, 0.2)), rec(1, times=(0.5, 0.6)), rec(2, times=(), status="error", output_tokens=0)]
    s = summarize_point(recs, slo={"ttft_ms": 200})
    assert s["goodput"]["good"] == 1 and s["goodput"]["fraction"] == pytest.approx(1 / 3)
    assert "goodput" not in summarize_point(recs)
    with pytest.raises(UserError, match="did you mean"):
        summarize_point(recs, slo={"ttft": 1})


def test_empty_and_all_failed_points():
    s = summarize_point([rec(times=(), status="error", error_class=None, output_tokens=0)])
    assert s["ok"] == 0 and s["aggregate_output_tps"] is None and s["ttft_ms"]["p50"] is None
    assert s["error_classes"] == {"error": 1}
    assert summarize_point([])["requests"] == 0


def test_one_token_and_zero_span():
    r = rec(times=(0.1,))
    assert tpot_ms(r) is None and decode_tps(r) is None and itl_ms(r) == []
    assert decode_tps(rec(times=(0.1, 0.1))) is None
    # no timestamps at all: fall back to totals
    assert decode_tps(rec(times=(), t_first_token=0.1, t_end=1.1, output_tokens=11)) == pytest.approx(10)


def test_summarize_run_orders_by_depth_then_concurrency():
    recs = []
    for d, c in [(4096, 8), (0, 8), (4096, 1), (0, 1)]:
        recs += [rec(i, point=f"c={c} d={d}", concurrency=c, context_depth=d) for i in range(2)]
    rows = summarize_run(recs)
    assert [(r["context_depth"], r["concurrency"]) for r in rows] == [(0, 1), (0, 8), (4096, 1), (4096, 8)]
    assert all(r["requests"] == 2 for r in rows)


def test_roles_reported():
    s = summarize_point([rec(0, role="main"), rec(1, role="sub"), rec(2, role="sub")])
    assert s["roles"] == {"main": 1, "sub": 2} and s["role"] == ""
    assert summarize_point([rec(0, role="main")])["role"] == "main"


statuses = st.sampled_from(["ok", "error", "incomplete"])


@given(st.lists(st.tuples(statuses, st.booleans(), st.integers(0, 5)), max_size=40))
def test_outcomes_always_add_up(rows):
    recs = [rec(i, t0=float(i), times=tuple(0.1 * (k + 1) for k in range(n)) or (), status=s, warmup=w,
                output_tokens=n) for i, (s, w, n) in enumerate(rows)]
    out = summarize_point(recs)
    assert out["ok"] + out["errors"] + out["incomplete"] == out["requests"] == sum(not w for _, w, _ in rows)
    assert out["output_tokens"] == sum(n for s, w, n in rows if s == "ok" and not w)


def test_resumed_point_counts_only_measuring_time():
    # attempt 0 measured 0..1 s, the run was interrupted, attempt 1 (the resume) measured 100..101 s
    recs = [rec(0, t0=0.0, times=(0.1, 0.5, 1.0), end=1.0), rec(1, t0=100.0, times=(0.1, 0.5, 1.0), end=1.0, attempt=1)]
    s = summarize_point(recs)
    assert s["duration_s"] == pytest.approx(2.0)  # not 101 s: the pause between runs is not measured
    assert s["aggregate_output_tps"] == pytest.approx(6 / 2.0)


def test_impossible_timings_are_flagged_not_averaged():
    steady = [rec(i, t0=10.0 * i, times=tuple(0.1 + 0.02 * k for k in range(33))) for i in range(4)]  # 50 tok/s
    burst = rec(9, t0=50.0, times=(0.7,) + tuple(0.7 + 0.0003 * k for k in range(1, 33)))  # 32 tokens in 10 ms
    s = summarize_point(steady + [burst])
    assert s["timing_flags"] == {"outlier": 1}
    assert s["decode_tps_per_stream"]["p50"] == pytest.approx(50.0) and s["decode_tps_per_stream"]["mean"] == pytest.approx(50.0)
    ci = s["decode_tps_median_ci95"]
    assert ci["n"] == 4 and ci["low"] == pytest.approx(50.0) and ci["high"] == pytest.approx(50.0)
    assert s["ttft_ms"]["p50"] is not None and s["ok"] == 5  # still counted, its TTFT and E2E kept
    fast = rec(0, times=tuple(0.01 * k for k in range(10)), native={"predicted_per_second": 50.0})  # 100 tok/s seen
    assert summarize_point([fast])["timing_flags"] == {"faster_than_server": 1}


def test_tokens_per_chunk_sources_and_speculative_acceptance():
    r = rec(times=(0.1, 0.1, 0.1, 0.2, 0.2, 0.2), chunks=2, token_source="server",
            native={"draft_n": 8, "draft_n_accepted": 6, "predicted_per_second": 30.0})
    s = summarize_point([r, rec(1, chunks=4, token_source="chunks", usage_output_tokens=4)])
    assert s["tokens_per_chunk"]["mean"] == pytest.approx((3 + 1) / 2)
    assert s["token_sources"] == {"server": 1, "chunks": 1}
    assert s["speculative"]["draft_tokens"] == 8 and s["speculative"]["acceptance"] == pytest.approx(0.75)
    counters = {"drafts": 10.0, "draft_tokens": 30.0, "accepted_tokens": 24.0}
    spec = summarize_point([rec(2)], counters=counters)["speculative"]
    assert spec["acceptance"] == pytest.approx(0.8) and spec["mean_accepted_per_draft"] == pytest.approx(2.4)
