"""Summaries of one sweep point, and of a whole run, from raw request records (pure functions).

Definitions (all times from one monotonic clock, reported in milliseconds):

- TTFT = ``t_first_token - t_start``; E2E = ``t_end - t_start``.
- TPOT = ``(E2E - TTFT) / (tokens - k0)`` for requests with at least two output tokens, k0 the
  tokens of the first chunk (1 unless it carried several: speculative decoding, stream intervals).
- ITL: one value per token after the first, from ``token_times`` (a chunk that carried k tokens has
  k equal timestamps): a chunk's gap since the previous chunk is spread over its k tokens, so ITL is
  per token, not per chunk, and its mean equals 1 / per-stream decode tok/s.
- Per-stream decode tok/s = ``(n - k0) / (token_times[-1] - token_times[0])``: every rate counts
  tokens, never chunks, and all three agree (mean ITL = TPOT = 1 / decode tok/s for a steady stream).
- Headline per-stream decode tok/s is the median of the requests whose timing is possible, with a
  distribution-free 95% interval of the median (``decode_tps_median_ci95``; its ``coverage`` says
  how sure a few samples allow). A request's timing is flagged impossible, and left out of decode
  figures (its TTFT and E2E stay), when its client-side rate exceeds the server's own timing of it
  by over 25% (``faster_than_server``: tokens cannot arrive faster than they are made), or is over
  3x the median of the point's other requests (``outlier``: a buffered burst, as llama-cpp-python's
  server delivers when its stream stalls); ``timing_flags`` counts them by reason.
- Aggregate output tok/s = output tokens of ok requests / the point's measuring time: the span from
  the first request's start to the last one's end, summed over each process that measured part of
  the point (``attempt``: a resumed point never counts the pause between two runs).
- Request throughput = ok requests / that same window; goodput = requests meeting every SLO.
- Token counts use the server's ``usage_output_tokens`` when present, else the client's count;
  requests where the two disagree are counted in ``token_mismatch``. ``tokens_per_chunk`` is output
  tokens per streamed event that carried output, ``tokens_per_arrival`` per distinct arrival time
  (llama-server sends each accepted draft token as its own event, all at once), ``token_sources`` where per-chunk counts came from
  (see RequestRecord), ``speculative`` the drafted and accepted tokens where the server says.
- Percentiles: linear interpolation between closest ranks (numpy's default; see ``stats.percentile``).

Only ``ok`` requests enter latency and throughput; errors and incomplete requests are counted
(with their classes) so ``ok + errors + incomplete == requests``. Warm-up requests are left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from tokbench.metrics.stats import ci95, distribution, mean, median_ci95, percentile
from tokbench.records import INCOMPLETE, OK, RequestRecord

SLO_KEYS = ("ttft_ms", "tpot_ms", "e2e_ms")
SERVER_MARGIN = 1.25  # a client rate this far above the server's own is not delivery jitter
OUTLIER_FACTOR = 3.0


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
    """Time per output token after the first chunk, in ms (``(E2E - TTFT) / (tokens - k0)``, k0 the
    tokens of the first chunk: 1 unless it carried several); None below two tokens."""
    n, ttft, e2e = tokens_of(r), ttft_ms(r), e2e_ms(r)
    if n < 2 or ttft is None or e2e is None:
        return None
    k0 = first_chunk(r)
    # Every token in the first read (a fast stream read late): no time between tokens was seen,
    # so the classic (E2E - TTFT) / (n - 1), the stream's tail per token, is what is left.
    return (e2e - ttft) / (n - k0 if n > k0 else n - 1)


def first_chunk(r: RequestRecord) -> int:
    """Tokens that arrived together with the first token (1 unless the first chunk carried several)."""
    t = r.token_times
    if not t:
        return 1
    k = 1
    while k < len(t) and t[k] == t[0]:
        k += 1
    return k


def itl_ms(r: RequestRecord) -> list[float]:
    """Inter-token latency in ms, one value per token after the first chunk: a chunk of k tokens
    that came g after the previous chunk gives each of its k tokens g / k (tokens, not chunks: a
    speculative chunk of 3 tokens 60 ms after the last is 3 tokens at 20 ms). Tokens that came with
    the first token have no latency of their own and no value."""
    t = r.token_times
    out: list[float] = []
    i, n = first_chunk(r), len(t)
    prev = t[0] if t else 0.0
    while i < n:
        j = i
        while j + 1 < n and t[j + 1] == t[i]:
            j += 1
        k = j - i + 1
        out.extend([(t[i] - prev) * 1000.0 / k] * k)
        prev = t[i]
        i = j + 1
    return out


def decode_tps(r: RequestRecord) -> float | None:
    """Per-stream decode tok/s from token timestamps: the tokens after the first chunk over the time
    from the first to the last token (``(n - k0) / span``; k0 = 1 for one token per chunk); None
    below two tokens or a zero span.

    Without timestamps (an engine that only reports totals), falls back to the token count over
    ``t_end - t_first_token``.
    """
    t = r.token_times
    if len(t) >= 2:
        span = t[-1] - t[0]
        return (len(t) - first_chunk(r)) / span if span > 0 else None
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
    """Measuring time: per attempt (process) the first start to the last end, summed."""
    by: dict[int, list[RequestRecord]] = {}
    for r in recs:
        by.setdefault(getattr(r, "attempt", 0) or 0, []).append(r)
    total = 0.0
    for group in by.values():
        ends = [t for r in group for t in (r.t_end, r.t_first_token, r.t_start) if t is not None]
        total += max(0.0, max(ends) - min(r.t_start for r in group))
    return total if total > 0 else None


def timing_flags(records: Iterable[RequestRecord]) -> dict[int, str]:
    """Request index -> why its decode timing is impossible (see the module docstring); pure."""
    rates = {r.index: decode_tps(r) for r in records if r.status == OK and not r.warmup}
    rates = {i: v for i, v in rates.items() if v is not None}
    by_index = {r.index: r for r in records}
    flags: dict[int, str] = {}
    for i, v in rates.items():
        native = (by_index[i].native or {}).get("predicted_per_second")
        if isinstance(native, (int, float)) and native > 0 and v > SERVER_MARGIN * native:
            flags[i] = "faster_than_server"
    if len(rates) >= 3:
        for i, v in rates.items():
            others = [x for j, x in rates.items() if j != i and j not in flags]
            m = percentile(others, 50)
            if i not in flags and m and v > OUTLIER_FACTOR * m:
                flags[i] = "outlier"
    return flags


def decode_rates(records: Iterable[RequestRecord]) -> tuple[list[float], dict[int, str]]:
    """Per-stream decode tok/s of the ok requests whose timing is possible, and the flags."""
    recs = list(records)
    flags = timing_flags(recs)
    rates = [v for r in recs if r.status == OK and not r.warmup and r.index not in flags
             for v in (decode_tps(r),) if v is not None]
    return rates, flags


def _speculative(ok: list[RequestRecord], counters: dict | None) -> dict | None:
    """Drafted / accepted tokens: llama-server's per-request timings, else the server's counters."""
    drafted = [r.native.get("draft_n") for r in ok if isinstance((r.native or {}).get("draft_n"), (int, float))]
    if drafted:
        acc = sum((r.native or {}).get("draft_n_accepted") or 0 for r in ok)
        total = sum(drafted)
        return {"draft_tokens": total, "accepted_tokens": acc, "acceptance": acc / total if total else None,
                "source": "llama-server timings (draft_n, draft_n_accepted)"}
    if counters and counters.get("draft_tokens"):
        d, a, n = counters["draft_tokens"], counters.get("accepted_tokens") or 0, counters.get("drafts")
        return {"draft_tokens": d, "accepted_tokens": a, "acceptance": a / d,
                "mean_accepted_per_draft": a / n if n else None, "source": "server /metrics (spec_decode counters)"}
    return None


def _vals(recs: Iterable[RequestRecord], fn) -> list[float]:
    return [v for v in (fn(r) for r in recs) if v is not None]


def _common(values: list[Any]) -> Any:
    uniq = list(dict.fromkeys(values))
    return uniq[0] if len(uniq) == 1 else (uniq if uniq else None)


def summarize_point(records: Iterable[RequestRecord], slo: dict[str, float] | None = None,
                    counters: dict | None = None) -> dict:
    """Issue 7's result row for one sweep point, plus extra keys (see module docstring).
    ``counters``: the server's own counters over the point (vLLM /metrics), when read."""
    slo = _check_slo(slo)
    all_recs = list(records)
    recs = [r for r in all_recs if not r.warmup]
    ok = [r for r in recs if r.status == OK]
    err = [r for r in recs if r.status != OK and r.status != INCOMPLETE]  # unknown statuses count as errors
    inc = [r for r in recs if r.status == INCOMPLETE]
    window = _window(recs)
    tokens = sum(tokens_of(r) for r in ok)
    per_stream, flags = decode_rates(ok)
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
        "decode_tps_median_ci95": median_ci95(per_stream),
        "decode_tps_ci95": ci95(per_stream),
        "timing_flags": dict(Counter(flags.values())),
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
    out.update(_server_side(ok, counters))
    return out


def _server_side(ok: list[RequestRecord], counters: dict | None) -> dict:
    """The server's own decode rate, chunking, where token counts came from, speculative drafts."""
    def stats(vals: list[float]) -> dict | None:
        return {"mean": mean(vals), "p50": percentile(vals, 50)} if vals else None

    out: dict[str, Any] = {}
    native = _vals(ok, lambda r: (r.native or {}).get("predicted_per_second"))
    if native:
        out["native_decode_tps"] = stats(native)
    out["tokens_per_chunk"] = stats([tokens_of(r) / r.chunks for r in ok if r.chunks])
    out["tokens_per_arrival"] = stats([len(r.token_times) / len(set(r.token_times)) for r in ok if r.token_times])
    out["token_sources"] = dict(Counter(r.token_source or "unknown" for r in ok))
    out["speculative"] = _speculative(ok, counters)
    return out


def group_points(records: Iterable[RequestRecord]) -> dict[str, list[RequestRecord]]:
    """Records by point label, in first-seen order."""
    groups: dict[str, list[RequestRecord]] = {}
    for r in records:
        groups.setdefault(r.point, []).append(r)
    return groups


def summarize_run(records: Iterable[RequestRecord], slo: dict[str, float] | None = None,
                  counters: dict[str, dict] | None = None) -> list[dict]:
    """One :func:`summarize_point` per point label, ordered by (context_depth, concurrency).

    Points with the same depth and concurrency (e.g. two roles) keep their first-seen order.
    ``counters``: point label -> the server's counters over that point.
    """
    groups = group_points(records)
    rows = [summarize_point(recs, slo, (counters or {}).get(label)) for label, recs in groups.items()]

    def key(i_row: tuple[int, dict]) -> tuple:
        i, row = i_row
        d, c = row["context_depth"], row["concurrency"]
        return (d if isinstance(d, int) else -1, c if isinstance(c, int) else -1, i)

    return [row for _, row in sorted(enumerate(rows), key=key)]
