"""Compare two stored runs: per metric difference, Welch confidence interval and a verdict.

Per sweep point (matched on context depth and concurrency) and per metric, the per-request values
of successful requests of run A and run B are compared with Welch's unequal-variance t interval for
the difference of means (B - A): it does not assume equal spreads, which two engines or two builds
rarely have. The verdict is "faster" / "slower" when the 95% interval excludes zero, else
"no significant difference"; "insufficient data" below two values on either side.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tokbench.records import OK, RequestRecord

FASTER, SLOWER, SAME, INSUFFICIENT = "faster", "slower", "no significant difference", "insufficient data"


@dataclass(frozen=True)
class Metric:
    """A per-request metric: its name, unit, function and which direction is better."""

    name: str
    unit: str
    higher_is_better: bool
    fn: Callable[[RequestRecord], float | None]


def metrics() -> tuple[Metric, ...]:
    """The compared metrics (definitions live in tokbench.metrics)."""
    from tokbench import metrics as m

    return (
        Metric("decode_tps_per_stream", "tok/s", True, m.decode_tps),
        Metric("ttft_ms", "ms", False, m.ttft_ms),
        Metric("tpot_ms", "ms", False, m.tpot_ms),
        Metric("e2e_ms", "ms", False, m.e2e_ms),
    )


def welch(a: Sequence[float], b: Sequence[float]) -> dict | None:
    """Welch 95% interval of mean(b) - mean(a): {diff, low, high, df, se}; None below 2 values each."""
    from tokbench.metrics import t_critical_95

    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return None
    ma, mb = math.fsum(a) / na, math.fsum(b) / nb
    va = math.fsum((x - ma) ** 2 for x in a) / (na - 1)
    vb = math.fsum((x - mb) ** 2 for x in b) / (nb - 1)
    sa, sb = va / na, vb / nb
    se = math.sqrt(sa + sb)
    diff = mb - ma
    if se == 0:
        return {"diff": diff, "low": diff, "high": diff, "df": float(na + nb - 2), "se": 0.0}
    # Welch-Satterthwaite degrees of freedom; floored, which widens the interval slightly (conservative).
    df = (sa + sb) ** 2 / (sa**2 / (na - 1) + sb**2 / (nb - 1))
    half = t_critical_95(max(1, math.floor(df))) * se
    return {"diff": diff, "low": diff - half, "high": diff + half, "df": df, "se": se}


def verdict(ci: dict | None, higher_is_better: bool) -> str:
    """faster / slower / no significant difference / insufficient data for B against A."""
    if ci is None:
        return INSUFFICIENT
    if ci["low"] > 0 or ci["high"] < 0:
        better = (ci["diff"] > 0) == higher_is_better
        return FASTER if better else SLOWER
    return SAME


def _values(records: list[RequestRecord], fn) -> list[float]:
    out = []
    for r in records:
        if r.status == OK and not r.warmup:
            v = fn(r)
            if v is not None and math.isfinite(v):
                out.append(float(v))
    return out


def _by_point(records: list[RequestRecord]) -> dict[tuple[int, int], list[RequestRecord]]:
    out: dict[tuple[int, int], list[RequestRecord]] = {}
    for r in records:
        out.setdefault((r.context_depth, r.concurrency), []).append(r)
    return out


def compare_records(a: list[RequestRecord], b: list[RequestRecord]) -> list[dict]:
    """One row per (point, metric) present in both runs (see module docstring)."""
    from tokbench.errors import UserError

    pa, pb = _by_point(a), _by_point(b)
    common = sorted(set(pa) & set(pb))
    if not common:
        raise UserError(
            f"the runs share no sweep point (A: {_points(pa)}; B: {_points(pb)}); compare runs of the same workload"
        )
    rows = []
    for depth, conc in common:
        for m in metrics():
            va, vb = _values(pa[(depth, conc)], m.fn), _values(pb[(depth, conc)], m.fn)
            ci = welch(va, vb)
            mean_a = math.fsum(va) / len(va) if va else None
            mean_b = math.fsum(vb) / len(vb) if vb else None
            pct = lambda x: (100.0 * x / mean_a) if (x is not None and mean_a) else None  # noqa: E731
            rows.append({
                "context_depth": depth, "concurrency": conc, "metric": m.name, "unit": m.unit,
                "higher_is_better": m.higher_is_better, "n_a": len(va), "n_b": len(vb),
                "mean_a": mean_a, "mean_b": mean_b, "diff": ci["diff"] if ci else _diff(mean_a, mean_b),
                "ci_low": ci["low"] if ci else None, "ci_high": ci["high"] if ci else None,
                "diff_pct": pct(ci["diff"] if ci else _diff(mean_a, mean_b)),
                "ci_low_pct": pct(ci["low"]) if ci else None, "ci_high_pct": pct(ci["high"]) if ci else None,
                "verdict": verdict(ci, m.higher_is_better),
            })
    return rows


def _diff(x: float | None, y: float | None) -> float | None:
    return None if x is None or y is None else y - x


def _points(p: dict) -> str:
    return ", ".join(f"d={d} c={c}" for d, c in sorted(p)) or "none"


def regressions(rows: list[dict], threshold_pct: float) -> list[dict]:
    """Rows where B is significantly slower than A by more than ``threshold_pct`` percent."""
    return [r for r in rows if r["verdict"] == SLOWER and r["diff_pct"] is not None
            and abs(r["diff_pct"]) > threshold_pct]
