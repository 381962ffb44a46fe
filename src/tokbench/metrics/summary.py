"""Summaries of one sweep point, and of a whole run, from raw request records (pure functions).

Definitions (all times from one monotonic clock, reported in milliseconds):

- TTFT = ``t_first_token - t_start``; E2E = ``t_end - t_start``.
- TPOT = ``(E2E - TTFT) / (tokens - 1)`` for requests with at least two output tokens.
- ITL: one gap per token after the first, from ``token_times``; a chunk that carried k tokens has
  k equal timestamps, so it counts k-1 zero gaps plus the one real gap (per token, not per chunk).
- Per-stream decode tok/s = ``(n - 1) / (token_times[-1] - token_times[0])``.
- Aggregate output tok/s = output tokens of ok requests / (max ``t_end`` - min ``t_start``) over all
  non-warm-up requests of the point (the point's wall time, failed requests included).
- Request throughput = ok requests / that same window; goodput = requests meeting every SLO.
- Token counts use the server's ``usage_output_tokens`` when present, else the client's count;
  requests where the two disagree are counted in ``token_mismatch``.
- Percentiles: linear interpolation between closest ranks (numpy's default; see ``stats.percentile``).

Only ``ok`` requests enter latency and throughput; errors and incomplete requests are counted
(with their classes) so ``ok + errors + incomplete == requests``. Warm-up requests are left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from tokbench.metrics.stats import ci95, distribution, mean, percentile
from tokbench.records import INCOMPLETE, OK, RequestRecord

SLO_KEYS = ("ttft_ms", "tpot_ms", "e2e_ms")


def tokens_of(r: RequestRecord) -> int:
    """Output tokens of a request: the server's usage count when given, else the client's."""
    return r.usage_output_tokens if r.usage_output_tokens is not None else r.output_tokens


def ttft_ms(r: RequestRecord) -> float | None:
    """Time to first token in ms (None when no token arrived)."""
    return None if r.t_first_token is None else (r.t_first_token - r.t_start) * 1000.0


def e2e_ms(r: RequestRecord) -> float | None:
    """End-to-end latency in ms (None when the request has no end time)."""
    return None if r.t_end is None else (r.t_end - r.t_start) * 1000.0


def tpot_ms(r: RequestRecord) -> float | None:
    """Time per output token after the first, in ms; None below two tokens."""
    n, ttft, e2e = tokens_of(r), ttft_ms(r), e2e_ms(r)
    if n < 2 or ttft is None or e2e is None:
        return None
    return (e2e - ttft) / (n - 1)


def itl_ms(r: RequestRecord) -> list[float]:
    """Inter-token gaps in ms, one per token after the first (zero gaps inside a multi-token chunk)."""
    t = r.token_times
    return [(b - a) * 1000.0 for a, b in zip(t, t[1:])]


def decode_tps(r: RequestRecord) -> float | None:
    """Per-stream decode tok/s from token timestamps; None below two tokens or a zero span.

    Without timestamps (an engine that only reports totals), falls back to the token count over
    ``t_end - t_first_token``.
    """
    t = r.token_times
    if len(t) >= 2:
        span = t[-1] - t[0]
        return (len(t) - 1) / span if span > 0 else None
    n = tokens_of(r)
    if n >= 2 and r.t_first_token is not None and r.t_end is not None and r.t_end > r.t_first_token:
        return (n - 1) / (r.t_end - r.t_first_token)
    return None


def prefill_tps(r: RequestRecord) -> float | None:
    """Prompt tokens per second of TTFT (prefill speed as the client sees it)."""
    ttft = ttft_ms(r)
    if not ttft or ttft <= 0 or r.prompt_tokens <= 0:
        return None
    return r.prompt_tokens / (ttft / 1000.0)


def meets_slo(r: RequestRecord, slo: dict[str, float]) -> bool:
    """True when an ok request is within every given SLO (a metric it lacks counts as met)."""
    got = {"ttft_ms": ttft_ms(r), "tpot_ms": tpot_ms(r), "e2e_ms": e2e_ms(r)}
    return r.status == OK and all(got[k] is None or got[k] <= float(v) for k, v in slo.items())


def _check_slo(slo: dict[str, float] | None) -> dict[str, float]:
    if not slo:
        return {}
    bad = [k for k in slo if k not in SLO_KEYS]
    if bad:
        from tokbench.errors import unknown

        raise unknown("SLO metric", bad[0], SLO_KEYS)
    return {k: float(v) for k, v in slo.items()}


def _window(recs: list[RequestRecord]) -> float | None:
    starts = [r.t_start for r in recs]
    ends = [t for r in recs for t in (r.t_end, r.t_first_token, r.t_start) if t is not None]
    if not starts:
        return None
    span = max(ends) - min(starts)
    return span if span > 0 else None


def _vals(recs: Iterable[RequestRecord], fn) -> list[float]:
    return [v for v in (fn(r) for r in recs) if v is not None]


def _common(values: list[Any]) -> Any:
    uniq = list(dict.fromkeys(values))
    return uniq[0] if len(uniq) == 1 else (uniq if uniq else None)


def summarize_point(records: Iterable[RequestRecord], slo: dict[str, float] | None = None) -> dict:
    """Issue 7's result row for one sweep point, plus extra keys (see module docstring)."""
    slo = _check_slo(slo)
    all_recs = list(records)
    recs = [r for r in all_recs if not r.warmup]
    ok = [r for r in recs if r.status == OK]
    err = [r for r in recs if r.status != OK and r.status != INCOMPLETE]  # unknown statuses count as errors
    inc = [r for r in recs if r.status == INCOMPLETE]
    window = _window(recs)
    tokens = sum(tokens_of(r) for r in ok)
    per_stream = _vals(ok, decode_tps)
    itls = [g for r in ok for g in itl_ms(r)]
    mismatch = [r for r in ok if r.usage_output_tokens is not None and r.usage_output_tokens != r.output_tokens]
    roles = Counter(r.role for r in recs)
    out: dict[str, Any] = {
        "point": _common([r.point for r in recs or all_recs]),
        "concurrency": _common([r.concurrency for r in recs or all_recs]),
        "context_depth": _common([r.context_depth for r in recs or all_recs]),
        "requests": len(recs),
        "ok": len(ok),
        "errors": len(err),
        "incomplete": len(inc),
        "warmup": len(all_recs) - len(recs),
        "ttft_ms": distribution(_vals(ok, ttft_ms)),
        "tpot_ms": distribution(_vals(ok, tpot_ms)),
        "itl_ms": distribution(itls),
        "e2e_ms": distribution(_vals(ok, e2e_ms)),
        "decode_tps_per_stream": {"mean": mean(per_stream), "p50": percentile(per_stream, 50)},
        "decode_tps_ci95": ci95(per_stream),
        "prefill_tps": {"mean": mean(_vals(ok, prefill_tps)), "p50": percentile(_vals(ok, prefill_tps), 50)},
        "aggregate_output_tps": tokens / window if window and ok else None,
        "request_throughput": len(ok) / window if window and ok else None,
        "output_tokens": tokens,
        "prompt_tokens": sum(r.prompt_tokens for r in ok),
        "duration_s": window,
        "error_classes": dict(Counter((r.error_class or r.status or "unknown") for r in err)),
        "incomplete_classes": dict(Counter((r.error_class or "unknown") for r in inc)),
        "token_mismatch": len(mismatch),
        "role": next(iter(roles)) if len(roles) == 1 else "",
    }
    if len(roles) > 1:
        out["roles"] = dict(roles)
    if slo:
        good = [r for r in ok if meets_slo(r, slo)]
        out["goodput"] = {
            "slo": slo, "good": len(good),
            "fraction": len(good) / len(recs) if recs else None,
            "request_rate": len(good) / window if window else None,
        }
    native = _vals(ok, lambda r: (r.native or {}).get("predicted_per_second"))
    if native:
        out["native_decode_tps"] = {"mean": mean(native), "p50": percentile(native, 50)}
    return out


def group_points(records: Iterable[RequestRecord]) -> dict[str, list[RequestRecord]]:
    """Records by point label, in first-seen order."""
    groups: dict[str, list[RequestRecord]] = {}
    for r in records:
        groups.setdefault(r.point, []).append(r)
    return groups


def summarize_run(records: Iterable[RequestRecord], slo: dict[str, float] | None = None) -> list[dict]:
    """One :func:`summarize_point` per point label, ordered by (context_depth, concurrency).

    Points with the same depth and concurrency (e.g. two roles) keep their first-seen order.
    """
    groups = group_points(records)
    rows = [summarize_point(recs, slo) for recs in groups.values()]

    def key(i_row: tuple[int, dict]) -> tuple:
        i, row = i_row
        d, c = row["context_depth"], row["concurrency"]
        return (d if isinstance(d, int) else -1, c if isinstance(c, int) else -1, i)

    return [row for _, row in sorted(enumerate(rows), key=key)]
