"""Small inline SVG charts: lines, scatter (linear or log axes) and grouped bars.

Why not plotly.js: inlining its bundle adds 4.8 MB to every report (plotly 7.1's plotly.min.js)
and a JavaScript runtime that must start before anything shows; these charts are a few KB of static
SVG that render with scripting off, print, and cannot raise console errors. Interactivity is kept
small: every mark has a <title> tooltip with its exact value, and the report's few lines of script
toggle a series when its legend entry is clicked. All text goes through ``html.escape``.
"""

from __future__ import annotations

import math
from html import escape

W, H = 640, 360
ML, MR, MT, MB = 64, 16, 34, 80  # margins: room for tick labels, the title and a legend below
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#7f7f7f", "#bcbd22")


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        return [10.0**e for e in range(a, b + 1)]
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 2) if start + i * step <= hi + step * 1e-9]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.01:
        return f"{v:.3g}"
    return f"{v:.4g}"


class _Axis:
    def __init__(self, values: list[float], log: bool, lo_px: float, hi_px: float, zero: bool) -> None:
        vals = [v for v in values if v is not None and math.isfinite(v) and (v > 0 or not log)]
        lo, hi = (min(vals), max(vals)) if vals else (1.0, 10.0)
        if log:
            lo, hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
            hi = hi * 10 if hi == lo else hi
        else:
            lo = min(0.0, lo) if zero else lo
            hi = hi + (abs(hi) * 0.05 or 1)
        self.log, self.ticks = log, _ticks(lo, hi, log)
        self.lo, self.hi = (lo, hi) if log else (min(lo, self.ticks[0]), max(hi, self.ticks[-1]))
        self.a, self.b = lo_px, hi_px

    def __call__(self, v: float) -> float:
        if self.log:
            f = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            f = (v - self.lo) / ((self.hi - self.lo) or 1)
        return self.a + f * (self.b - self.a)


def _svg_open(title: str, chart_id: str, h: float) -> list[str]:
    """The opening of a chart's SVG: element, white canvas, centred title."""
    return [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" viewBox="0 0 {W} {h:.0f}" '
            f'width="{W}" height="{h:.0f}" role="img" aria-label="{escape(title)}">',
            f'<rect x="0" y="0" width="{W}" height="{h:.0f}" fill="#fff"/>',
            f'<text x="{W / 2}" y="20" text-anchor="middle" class="ct">{escape(title)}</text>']


def _frame(title: str, xlab: str, ylab: str, x: _Axis, y: _Axis, chart_id: str, h: float = H) -> list[str]:
    # ``h`` only grows the canvas below the plot (room for a long legend); the plot area is fixed.
    out = _svg_open(title, chart_id, h)
    for t in x.ticks:
        px = x(t)
        out.append(f'<line x1="{px:.1f}" y1="{MT}" x2="{px:.1f}" y2="{H - MB}" class="grid"/>'
                   f'<text x="{px:.1f}" y="{H - MB + 14}" text-anchor="middle" class="tick">{escape(_fmt(t))}</text>')
    for t in y.ticks:
        py = y(t)
        out.append(f'<line x1="{ML}" y1="{py:.1f}" x2="{W - MR}" y2="{py:.1f}" class="grid"/>'
                   f'<text x="{ML - 6}" y="{py + 4:.1f}" text-anchor="end" class="tick">{escape(_fmt(t))}</text>')
    out.append(f'<rect x="{ML}" y="{MT}" width="{W - ML - MR}" height="{H - MT - MB}" class="plot"/>')
    out.append(f'<text x="{(ML + W - MR) / 2}" y="{H - MB + 32}" text-anchor="middle" class="lab">{escape(xlab)}</text>')
    out.append(f'<text transform="translate(14 {(MT + H - MB) / 2}) rotate(-90)" text-anchor="middle" '
               f'class="lab">{escape(ylab)}</text>')
    return out


def _legend(names: list[str | None], chart_id: str, y0: float = H - MB + 50, colors: list[int] | None = None,
            x0: float = ML) -> tuple[list[str], float]:
    """Legend entries (None: series left out of the legend) and the y of the last row."""
    out, x, y = [], x0, y0
    for i, name in enumerate(names):
        if name is None:
            continue
        color = PALETTE[(colors[i] if colors else i) % len(PALETTE)]
        label = name if len(name) <= 48 else name[:47] + "…"
        width = 18 + 6.2 * len(label)  # 10 px text is under 6.2 px per character: entries never touch
        if x + width > W - MR and x > x0:
            x, y = x0, y + 15
        out.append(f'<g class="lg" data-chart="{escape(chart_id)}" data-series="{i}" tabindex="0">'
                   f'<rect x="{x:.0f}" y="{y - 9}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{x + 14:.0f}" y="{y}" class="tick"><title>{escape(name)}</title>{escape(label)}</text></g>')
        x += width + 10
    return out, y


def xy_chart(chart_id: str, title: str, xlab: str, ylab: str, series: list[dict], log_x: bool = False,
             log_y: bool = False) -> str:
    """Lines and/or points. ``series``: [{"name", "points": [(x, y, tooltip)], "mode": "line"|"points"|"both",
    "dash": bool, "color": palette index, "legend": bool, "hollow" | "outline": bool (point marks)}]; tooltips are
    plain text (escaped here)."""
    xs = [p[0] for s in series for p in s["points"]]
    ys = [p[1] for s in series for p in s["points"]]
    x = _Axis(xs, log_x, ML, W - MR, zero=False)
    y = _Axis(ys, log_y, H - MB, MT, zero=not log_y)
    colors = [s.get("color", i) for i, s in enumerate(series)]
    legend, last_y = _legend([s["name"] if s.get("legend", True) else None for s in series], chart_id, colors=colors)
    out = _frame(title, xlab, ylab, x, y, chart_id, h=max(H, last_y + 10))
    out.append(f'<clipPath id="{escape(chart_id)}-clip"><rect x="{ML}" y="{MT}" width="{W - ML - MR}" '
               f'height="{H - MT - MB}"/></clipPath>')
    for i, s in enumerate(series):
        color = PALETTE[colors[i] % len(PALETTE)]
        pts = [(p[0], p[1], p[2] if len(p) > 2 else "") for p in s["points"]
               if p[0] is not None and p[1] is not None and (p[0] > 0 or not log_x) and (p[1] > 0 or not log_y)]
        out.append(f'<g class="series" data-series="{i}" clip-path="url(#{escape(chart_id)}-clip)">')
        if s.get("mode", "both") in ("line", "both") and len(pts) > 1:
            path = " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py, _ in pts)
            dash = ' stroke-dasharray="5 4"' if s.get("dash") else ""
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}>'
                       f'<title>{escape(s["name"])}</title></polyline>')
        if s.get("mode", "both") in ("points", "both"):
            # "hollow": a ring (published figures); "outline": a filled mark ringed in black (measured here).
            style = (f'r="4" fill="#fff" stroke="{color}" stroke-width="1.5"' if s.get("hollow") else
                     f'r="5" fill="{color}" stroke="#000" stroke-width="1.5"' if s.get("outline") else
                     f'r="4" fill="{color}"')
            for px, py, tip in pts:
                out.append(f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" {style}>'
                           f'<title>{escape(tip or s["name"])}</title></circle>')
        out.append("</g>")
    out += legend
    out.append("</svg>")
    return "".join(out)


def hbar_chart(chart_id: str, title: str, xlab: str, groups: list[dict], series_names: list[str],
               label_px: int = 250) -> str:
    """Horizontal grouped bars: one row per group, its label on the left in full width (never rotated,
    never overlapping: the chart grows one row per group). ``groups``: [{"label", "values":
    {series_name: (value, tooltip)}}]."""
    vals = [v[0] for g in groups for v in g["values"].values() if v and v[0] is not None]
    left, top = label_px, MT + 8
    bar_h, gap = 7, 6
    row_h = bar_h * max(1, len(series_names)) + gap
    plot_h = row_h * max(1, len(groups))
    x = _Axis(vals or [1.0], False, left, W - MR, zero=True)
    legend, last_y = _legend(series_names, chart_id, y0=top + plot_h + 46, x0=left)
    h = last_y + 12
    out = _svg_open(title, chart_id, h)
    for t in x.ticks:
        px = x(t)
        out.append(f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{top + plot_h}" class="grid"/>'
                   f'<text x="{px:.1f}" y="{top + plot_h + 14}" text-anchor="middle" class="tick">{escape(_fmt(t))}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{W - MR - left}" height="{plot_h}" class="plot"/>')
    out.append(f'<text x="{(left + W - MR) / 2}" y="{top + plot_h + 32}" text-anchor="middle" class="lab">'
               f'{escape(xlab)}</text>')
    max_chars = int((label_px - 12) / 5.6)  # 10 px text: about 5.6 px per character
    for gi, g in enumerate(groups):
        gy = top + gi * row_h + gap / 2
        for si, name in enumerate(series_names):
            v = g["values"].get(name)
            if not v or v[0] is None:
                continue
            right = x(v[0])
            out.append(f'<g class="series" data-series="{si}"><rect x="{left}" y="{gy + si * bar_h:.1f}" '
                       f'width="{max(right - left, 0.5):.1f}" height="{bar_h - 1}" fill="{PALETTE[si % len(PALETTE)]}">'
                       f'<title>{escape(v[1])}</title></rect></g>')
        label = g["label"] if len(g["label"]) <= max_chars else g["label"][: max_chars - 1] + "…"
        out.append(f'<text x="{left - 6}" y="{gy + row_h / 2 + 1:.1f}" text-anchor="end" class="tick">'
                   f'<title>{escape(g["label"])}</title>{escape(label)}</text>')
    out += legend
    out.append("</svg>")
    return "".join(out)


def ecdf(values: list[float]) -> list[tuple[float, float]]:
    """Empirical CDF points (value, fraction <= value), thinned to at most 200 points."""
    xs = sorted(v for v in values if v is not None and math.isfinite(v))
    if not xs:
        return []
    step = max(1, len(xs) // 200)
    idx = list(range(0, len(xs), step)) + ([len(xs) - 1] if (len(xs) - 1) % step else [])
    return [(xs[i], (i + 1) / len(xs)) for i in idx]
