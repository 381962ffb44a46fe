"""Self-contained HTML report: the tables of the Markdown report plus inline SVG charts.

Opens with no network (no external script, style, font or image; a Content-Security-Policy says
so). Every string from the document goes through ``html.escape``; the embedded JSON copy of the
results document escapes ``<``, ``>`` and ``&`` so no text in it can close its script element.
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources
from string import Template

from tokbench.report import charts
from tokbench.report.agents import SECTION, agent_tables
from tokbench.report.markdown import Footnotes
from tokbench.report.tables import all_tables


def _cell(cell, notes: Footnotes) -> str:
    if isinstance(cell, str):
        return escape(cell)
    parts = []
    for e in cell:
        n = notes.ref(e["label"] + ": " + e["source"])
        detail = f' <span class="bw">{escape(e["detail"])}</span>' if e.get("detail") else ""
        parts.append(f'<span class="e">{escape(e["text"])}{detail}<span class="tag {escape(e["provenance"])}" '
                     f'title="{escape(e["label"])}">{escape(e["provenance"])}</span>'
                     f'<sup><a href="#src{n}">{n}</a></sup></span>')
    return "".join(parts)


def _table(t: dict, notes: Footnotes) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in t["columns"])
    rows = "".join("<tr>" + "".join(f"<td>{_cell(c, notes)}</td>" for c in r) + "</tr>" for r in t["rows"])
    return (f"<h3>{escape(t['title'])}</h3><p class=\"note\">{escape(t.get('note', ''))}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def _run_label(run: dict) -> str:
    from tokbench.report.runs import display

    d = display(run["identity"], run.get("hardware"))
    return f"{d['model']} {d['quant']} {d['engine']} ({run['id']})"


def concurrency_charts(doc: dict) -> list[str]:
    """Per-stream and aggregate decode tok/s against concurrency, one series per run and depth."""
    per, agg = [], []
    for run in doc["runs"]:
        by_depth: dict = {}
        for s in run["summaries"]:
            by_depth.setdefault(s.get("context_depth") or 0, []).append(s)
        for depth, pts in sorted(by_depth.items()):
            pts = sorted(pts, key=lambda s: s.get("concurrency") or 1)
            name = f"{_run_label(run)} d={depth}"
            per.append({"name": name, "points": [
                (s["concurrency"], (s.get("decode_tps_per_stream") or {}).get("p50"),
                 f"{name}: c={s['concurrency']}, {(s.get('decode_tps_per_stream') or {}).get('p50') or 0:.1f} tok/s per stream")
                for s in pts]})
            agg.append({"name": name, "points": [
                (s["concurrency"], s.get("aggregate_output_tps"),
                 f"{name}: c={s['concurrency']}, {s.get('aggregate_output_tps') or 0:.1f} tok/s aggregate") for s in pts]})
    if not per:
        return []
    return [charts.xy_chart("conc-per-stream", "Decode tok/s per stream vs concurrency", "concurrent requests",
                            "tok/s per stream", per),
            charts.xy_chart("conc-aggregate", "Aggregate output tok/s vs concurrency", "concurrent requests",
                            "tok/s (all streams)", agg)]


def distribution_charts(doc: dict) -> list[str]:
    """Empirical CDFs of TTFT and ITL per run and sweep point."""
    out = []
    for key, title, unit in (("ttft_ms", "TTFT distribution", "TTFT (ms)"), ("itl_ms", "ITL distribution", "ITL (ms)")):
        series = []
        for run in doc["runs"]:
            for point, samp in run.get("samples", {}).items():
                pts = [(x, y, f"{_run_label(run)} {point}: {x:.2f} ms at {y:.0%}") for x, y in charts.ecdf(samp.get(key, []))]
                if pts:
                    series.append({"name": f"{_run_label(run)} {point}", "points": pts, "mode": "line"})
        if series:
            out.append(charts.xy_chart(f"dist-{key}", title + " (empirical CDF)", unit, "fraction of requests", series))
    return out


def comparison_chart(doc: dict, limit: int = 30) -> list[str]:
    """Grouped bars: measured / published value next to the planner's estimate, per matched row."""
    # Decode only: prefill figures are 10-100x larger and would flatten every decode bar.
    rows = [r for r in (doc.get("validation") or {}).get("rows", []) if r["metric"] != "prefill_tps"]
    rows = sorted(rows, key=lambda r: (r.get("provenance") != "measured", r["hardware"], r["model"]))[:limit]
    names = ["measured", "reported", "estimated (tokbench)"]
    groups = []
    for r in rows:
        label = f"{r['model']} {r['quant']} {r['hardware']} d={r['context']} c={r['concurrency']} {r['metric']}"
        kind = "measured" if r.get("provenance") == "measured" else "reported"
        groups.append({"label": label, "values": {
            kind: (r["measured_tps"], f"{label}: {r['measured_tps']:.1f} tok/s ({r.get('label', kind)}; {r['source']})"),
            "estimated (tokbench)": (r["estimated_tps"], f"{label}: estimated {r['estimated_tps']:.1f} tok/s "
                                                         f"({r['error_pct']:+.1f}%)")}})
    if not groups:
        return []
    return [charts.bar_chart("bars-validation", "Decode: measured / published vs estimated tok/s", "tok/s", groups, names)]


def roofline_points(doc: dict) -> tuple[list[dict], dict[str, float]]:
    """Single-stream decode points with bytes read per token, and each machine's bandwidth (GB/s)."""
    from tokbench.catalog.hardware import catalog

    pts, bw = [], {}
    for r in (doc.get("validation") or {}).get("rows", []):
        hw = catalog().get(r["hardware"])
        if r["metric"] == "decode_tps" and r["concurrency"] == 1 and r.get("bytes_per_token") and hw:
            pts.append({"hardware": hw.id, "bytes": r["bytes_per_token"], "tps": r["measured_tps"],
                        "label": f"{r['model']} {r['quant']} d={r['context']} ({r.get('label', '')})"})
            bw[hw.id] = hw.bandwidth_gbs
    return pts, bw


def roofline_chart(doc: dict) -> list[str]:
    """Decode tok/s against GB read per token (log-log), with tok/s = bandwidth / bytes per machine."""
    pts, bw = roofline_points(doc)
    if not pts:
        return []
    lo = min(p["bytes"] for p in pts) / 1e9 / 2
    hi = max(p["bytes"] for p in pts) / 1e9 * 2
    series = []
    for k, hw_id in enumerate(sorted(bw)):
        mine = [p for p in pts if p["hardware"] == hw_id]
        limit = bw[hw_id]
        series.append({"name": f"{hw_id} points", "mode": "points", "color": k, "legend": False, "points": [
            (p["bytes"] / 1e9, p["tps"], f"{hw_id} {p['label']}: {p['tps']:.1f} tok/s at {p['bytes'] / 1e9:.2f} GB/token"
             f" = {p['tps'] * p['bytes'] / 1e9 / limit:.0%} of {limit:g} GB/s") for p in mine]})
        series.append({"name": f"{hw_id} {limit:g} GB/s", "mode": "line", "dash": True, "color": k,
                       "points": [(x, limit / x, f"{hw_id}: {limit:g} GB/s") for x in (lo, hi)]})
    return [charts.xy_chart("roofline", "Roofline: decode tok/s vs GB read per token", "GB read per token",
                            "tok/s (single stream)", series, log_x=True, log_y=True)]


def _safe_json(doc: dict) -> str:
    text = json.dumps(doc, separators=(",", ":"), default=str)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def render_html(doc: dict) -> str:
    """The whole report as one HTML page."""
    notes = Footnotes()
    legend = " ".join(f'<span class="tag {k}">{k}</span> {escape(v)}.' for k, v in doc["provenance"].items())
    body = [f"<h1>tokbench report</h1><p class=\"note\">Generated {escape(doc['generated_at'])} by tokbench "
            f"{escape(doc['tokbench_version'])}; results document {escape(doc['schema'])} v{doc['schema_version']}; "
            f"{len(doc['runs'])} stored run(s), {len(doc['reference_rows'])} published rows.</p><p>{legend}</p>"]
    chart_svgs = concurrency_charts(doc) + distribution_charts(doc) + comparison_chart(doc) + roofline_chart(doc)
    if chart_svgs:
        body.append('<h2>Charts</h2><div class="charts">' + "".join(chart_svgs) + "</div>")
    body.append("<h2>Tables</h2>")
    body += [_table(t, notes) for t in all_tables(doc)]
    agents = agent_tables(doc)
    if agents:
        body.append(f"<h2>{escape(SECTION)}</h2>")
        body += [_table(t, notes) for t in agents]
    body.append('<h2>Sources</h2><ol class="sources">' + "".join(
        f'<li id="src{i}">{escape(s)}</li>' for i, s in enumerate(notes.sources, 1)) + "</ol>")
    template = Template(resources.files("tokbench.report").joinpath("templates/report.html").read_text())
    return template.safe_substitute(title="tokbench report", body="\n".join(body), document=_safe_json(doc))
