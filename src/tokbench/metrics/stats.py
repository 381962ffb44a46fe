"""Small statistics without numpy or scipy: percentiles, mean/sd, t-based confidence intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence

# Two-sided 95% Student t critical values t(0.975, df) for df = 1..30 (standard tables, e.g.
# NIST/SEMATECH e-Handbook of Statistical Methods, section 1.3.6.7.2).
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)
_Z975 = 1.959963984540054


def t_critical_95(df: int) -> float:
    """t(0.975, df): the table for df <= 30, a Cornish-Fisher expansion above (error < 1e-4)."""
    if df < 1:
        raise ValueError("df must be >= 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    # Expansion of the t quantile in powers of 1/df (Abramowitz & Stegun 26.7.5).
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks.

    This is Hyndman & Fan's type 7, numpy's default ``method="linear"``: position
    ``(n - 1) * q / 100`` in the sorted values, interpolated. None for no values.
    """
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(values: Sequence[float]) -> float | None:
    """Arithmetic mean; None for no values."""
    return math.fsum(values) / len(values) if values else None


def stdev(values: Sequence[float]) -> float | None:
    """Sample standard deviation (n - 1); None for fewer than two values."""
    if len(values) < 2:
        return None
    m = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))


def distribution(values: Sequence[float], keys: tuple[str, ...] = ("p50", "p90", "p99", "mean")) -> dict:
    """``{"p50", "p90", "p99", "mean"}`` (and any other ``pNN`` / ``min`` / ``max`` asked for)."""
    out: dict[str, float | None] = {}
    for k in keys:
        if k == "mean":
            out[k] = mean(values)
        elif k == "min":
            out[k] = min(values) if values else None
        elif k == "max":
            out[k] = max(values) if values else None
        else:
            out[k] = percentile(values, float(k[1:]))
    return out


def ci95(values: Sequence[float]) -> dict:
    """Mean, sample sd, n and the two-sided 95% t confidence interval of the mean."""
    n = len(values)
    m, sd = mean(values), stdev(values)
    if n < 2 or sd is None:
        return {"n": n, "mean": m, "sd": sd, "low": None, "high": None, "half_width": None}
    half = t_critical_95(n - 1) * sd / math.sqrt(n)
    return {"n": n, "mean": m, "sd": sd, "low": m - half, "high": m + half, "half_width": half}


def median_ci95(values: Sequence[float]) -> dict:
    """Distribution-free 95% interval of the median: the order statistics ``x_(j)``, ``x_(n-j+1)``
    with the largest ``j`` whose binomial(n, 1/2) coverage is still at least 95%.

    Honest for few samples: below 6 values no pair of order statistics reaches 95%, so the interval
    is the whole range and ``coverage`` says how sure it is (e.g. 0.9375 for 5 values, 0.75 for 3).
    Why by hand: the binomial tail is one pass of log-space terms (``math.lgamma``), no scipy.
    """
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        return {"n": 0, "p50": None, "low": None, "high": None, "coverage": None}
    if n == 1:
        return {"n": 1, "p50": xs[0], "low": xs[0], "high": xs[0], "coverage": 0.0}
    log2n = n * math.log(2.0)
    pmf = [math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - log2n) for i in range(n + 1)]
    # coverage(j) = P(j <= B <= n - j) for B ~ binomial(n, 1/2); it shrinks as j grows.
    j, tail = 1, pmf[0]  # tail = P(B < j) = P(B > n - j)
    while j + 1 <= n // 2 and 1.0 - 2.0 * (tail + pmf[j]) >= 0.95:
        tail += pmf[j]
        j += 1
    return {"n": n, "p50": percentile(xs, 50), "low": xs[j - 1], "high": xs[n - j], "coverage": 1.0 - 2.0 * tail}
