"""Pure functions from raw request records to summaries (no I/O, no engine or loadgen imports).

``summarize_point(records, slo=None) -> dict`` gives issue 7's result row for one sweep point;
``summarize_run(records, slo=None) -> list[dict]`` one row per point, ordered by
(context_depth, concurrency). Definitions are in :mod:`tokbench.metrics.summary`.
"""

from __future__ import annotations

from tokbench.metrics.stats import ci95, distribution, percentile, t_critical_95
from tokbench.metrics.summary import (
    decode_rates, decode_tps, e2e_ms, first_chunk, group_points, itl_ms, meets_slo, summarize_point, summarize_run,
    timing_flags, tokens_of, tpot_ms, ttft_ms,
)

__all__ = [
    "ci95", "decode_rates", "decode_tps", "distribution", "e2e_ms", "first_chunk", "group_points", "itl_ms",
    "meets_slo", "percentile", "timing_flags",
    "summarize_point", "summarize_run", "t_critical_95", "tokens_of", "tpot_ms", "ttft_ms",
]
