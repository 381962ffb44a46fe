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
from tokbench.report.labels import UNKNOWN, short_model, tokens_text
from tokbench.report.markdown import Footnotes
from tokbench.report.tables import all_tables


def _cell(cell, notes: Footnotes) -> str:
    if isinstance(cell, str):
        return escape(cell)
    parts = []
    for e in cell:
        n = notes.ref(e["label"] + ": " + e["source"])
        detail = f' <span class="bw">· {escape(e["detail"])}</span>' if e.get("detail") else ""
        parts.append(f'<span class="e">{escape(e["text"])}{detail}<span class="tag {escape(e["provenance"])}" '
                     f'title="{escape(e["label"])}">{escape(e["provenance"])}</span>'
                     f'<sup><a href="#src{n}">{n}</a></sup></span>')
    return "".join(parts)


def _table(t: dict, notes: Footnotes) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in t["columns"])
    rows = "".join("<tr>" + "".join(f"<td>{_cell(c, notes)}</td>" for c in r) + "</tr>" for r in t["rows"])
    return (f"<h3>{escape(t['title'])}</h3><p class=\"note\">{escape(t.get('note', ''))}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def run_labels(doc: dict) -> dict[str, str]:
    """Each run's short series name: model, quant, engine (no run id, path or file hash); runs that
    would read alike get their start time added, so two series never share a name."""
    from tokbench.report.runs import display

    from tokbench.report.runs import run_provenance

    names = {}
    for run in doc["runs"]:
        d = display(run["identity"], run.get("hardware"))
        names[run["id"]] = " ".join(x for x in (d["model"], d["quant"], d["engine"]) if x != UNKNOWN) or run["id"]
        prov = run_provenance(run.get("config"), run["id"])
        if prov["role"] == "imported":  # another tool's figures: said in the series name
            names[run["id"]] += f" ({prov['label']})"
    counts: dict[str, int] = {}
    for n in names.values():
        counts[n] = counts.get(n, 0) + 1
    for run in doc["runs"]:
        if counts[names[run["id"]]] > 1:
            names[run["id"]] += f" @{str(run.get('created_at') or run['id'])[11:16] or run['id'][-4:]}"
    if len(set(names.values())) < len(names):  # same minute too: the run id's distinct tail
        names = {rid: f"{n} {rid[-4:]}" for rid, n in names.items()}
    return names


def concurrency_charts(doc: dict) -> list[str]:
    """Per-stream and aggregate decode tok/s against concurrency: one series per run and depth."""
    labels = run_labels(doc)
    per, agg = [], []
    for run in doc["runs"]:
        by_depth: dict = {}
        for s in run["summaries"]:
            by_depth.setdefault(s.get("context_depth") or 0, []).append(s)
        for depth, pts in sorted(by_depth.items()):
            pts = sorted(pts, key=lambda s: s.get("concurrency") or 1)
            name = f"{labels[run['id']]}, depth {tokens_text(depth)}"
            per.append({"name": name, "points": [
                (s["concurrency"], (s.get("decode_tps_per_stream") or {}).get("p50"),
                 f"{name}: {s['concurrency']} concurrent, "
                 f"{(s.get('decode_tps_per_stream') or {}).get('p50') or 0:.1f} tok/s per stream") for s in pts]})
            agg.append({"name": name, "points": [
                (s["concurrency"], s.get("aggregate_output_tps"),
                 f"{name}: {s['concurrency']} concurrent, {s.get('aggregate_output_tps') or 0:.1f} tok/s aggregate")
                for s in pts]})
    if not per:
        return []
    return [charts.xy_chart("conc-per-stream", "Decode per stream vs concurrency", "concurrent requests",
                            "decode tok/s per stream", per),
            charts.xy_chart("conc-aggregate", "Aggregate output vs concurrency", "concurrent requests",
                            "output tok/s, all streams", agg)]


def distribution_charts(doc: dict) -> list[str]:
    """Empirical CDFs of TTFT and ITL per run and sweep point."""
    labels, out = run_labels(doc), []
    for key, title, unit in (("ttft_ms", "TTFT distribution", "TTFT (ms)"), ("itl_ms", "ITL distribution", "ITL (ms)")):
        series = []
        for run in doc["runs"]:
            for point, samp in run.get("samples", {}).items():
                name = f"{labels[run['id']]}, {_point_text(point)}"
                pts = [(x, y, f"{name}: {x:.2f} ms at {y:.0%}") for x, y in charts.ecdf(samp.get(key, []))]
                if pts:
                    series.append({"name": name, "points": pts, "mode": "line"})
        if series:
            out.append(charts.xy_chart(f"dist-{key}", title + " (empirical CDF)", unit, "fraction of requests", series))
    return out


def _point_text(point: str) -> str:
    """A sweep point label ("c=8 d=4096") as a legend reads it ("8 concurrent, depth 4K")."""
    import re

    c, d = re.search(r"\bc=(\d+)", point), re.search(r"\bd=(\d+)", point)
    if not (c and d):
        return point
    rest = re.sub(r"\b[cd]=\d+", "", point).strip()
    return f"{c.group(1)} concurrent, depth {tokens_text(int(d.group(1)))}" + (f" {rest}" if rest else "")


def comparison_chart(doc: dict, limit: int = 30, metric: str = "decode_tps") -> list[str]:
    """Horizontal grouped bars: measured / imported / published value next to the planner's estimate,
    per matched row of one metric (decode and prefill apart: prefill figures are 10-100x larger and
    would flatten every decode bar)."""
    rows = [r for r in (doc.get("validation") or {}).get("rows", [])
            if (r["metric"] == "prefill_tps") == (metric == "prefill_tps")]
    rows = sorted(rows, key=lambda r: (r.get("provenance") != "measured", r["hardware"], r["model"]))[:limit]
    names = ["measured", "reported", "estimated (tokbench)"]
    groups = []
    for r in rows:
        conc = f" x{r['concurrency']}" if (r["concurrency"] or 1) > 1 else ""  # concurrent streams
        label = f"{short_model(r['model'])} {r['quant']}{conc}, {r['hardware']}, {tokens_text(r['context'])}"
        kind = "imported" if r.get("role") == "imported" else \
            "measured" if r.get("provenance") == "measured" else "reported"
        groups.append({"label": label, "values": {
            kind: (r["measured_tps"], f"{label}: {r['measured_tps']:.1f} tok/s ({r.get('label', kind)}; {r['source']})"),
            "estimated (tokbench)": (r["estimated_tps"], f"{label}: estimated {r['estimated_tps']:.1f} tok/s "
                                                         f"({r['error_pct']:+.1f}%)")}})
    if not groups:
        return []
    names = names[:1] + ["imported"] + names[1:]
    used = {k for g in groups for k in g["values"]}
    names = [n for n in names if n in used]  # no legend entry for a kind the chart does not show
    what = "Decode" if metric == "decode_tps" else "Prefill"
    chart_id = "bars-validation" if metric == "decode_tps" else "bars-validation-prefill"
    return [charts.hbar_chart(chart_id, f"{what}: measured / published vs estimated",
                              f"{what.lower()} tok/s{' per stream' if metric == 'decode_tps' else ''}", groups, names)]


MAX_MACHINES = 8


def roofline_points(doc: dict) -> tuple[list[dict], dict[str, float]]:
    """Single-stream decode points with bytes read per token, and each machine's bandwidth (GB/s):
    the stored runs' measured points (on their own hardware, a probed host too) and every matched
    published row of a catalogued machine."""
    from tokbench.catalog.hardware import catalog

    labels = run_labels(doc)
    pts, bw = [], {}
    for run in doc["runs"]:
        hw = run.get("hardware") or {}
        for s in run["summaries"]:
            b = s.get("bandwidth") or {}
            tps = (s.get("decode_tps_per_stream") or {}).get("p50")
            if (s.get("concurrency") or 1) == 1 and b.get("gb_per_step") and tps and hw.get("bandwidth_gbs"):
                key = hw.get("id") or hw.get("label")
                pts.append({"hardware": key, "bytes": b["gb_per_step"] * 1e9, "tps": tps, "measured": True,
                            "label": f"{labels[run['id']]}, depth {tokens_text(s.get('context_depth') or 0)} "
                                     f"(measured, run {run['id']})"})
                bw[key] = hw["bandwidth_gbs"]
    for r in (doc.get("validation") or {}).get("rows", []):
        hw = catalog().get(r["hardware"])
        if r["metric"] == "decode_tps" and r["concurrency"] == 1 and r.get("bytes_per_token") and hw:
            pts.append({"hardware": hw.id, "bytes": r["bytes_per_token"], "tps": r["measured_tps"],
                        "measured": r.get("provenance") == "measured",
                        "label": f"{r['model']} {r['quant']} d={r['context']} ({r.get('label', '')})"})
            bw[hw.id] = hw.bandwidth_gbs
    return pts, bw


def roofline_chart(doc: dict) -> list[str]:
    """Decode tok/s against GB read per token (log-log), with tok/s = bandwidth / bytes per machine."""
    pts, bw = roofline_points(doc)
    if not pts:
        return []
    # At most MAX_MACHINES lines (the palette's colours stay distinct): machines measured here first,
    # then those with the most points; the tables keep every row.
    rank = sorted(bw, key=lambda h: (-sum(p["measured"] for p in pts if p["hardware"] == h),
                                     -sum(p["hardware"] == h for p in pts), str(h)))
    shown = set(rank[:MAX_MACHINES])
    pts = [p for p in pts if p["hardware"] in shown]
    lo = min(p["bytes"] for p in pts) / 1e9 / 2
    hi = max(p["bytes"] for p in pts) / 1e9 * 2
    series = []
    more = f", {len(shown)} of {len(bw)} machines" if len(bw) > len(shown) else ""
    for k, hw_id in enumerate(sorted(shown, key=str)):
        mine = [p for p in pts if p["hardware"] == hw_id]
        limit = bw[hw_id]
        tip = lambda p: (f"{hw_id} {p['label']}: {p['tps']:.1f} tok/s at {p['bytes'] / 1e9:.2f} GB/token"  # noqa: E731
                         f" = {p['tps'] * p['bytes'] / 1e9:.1f} GB/s, {p['tps'] * p['bytes'] / 1e9 / limit:.0%} of "
                         f"{limit:g} GB/s")
        for measured in (False, True):  # measured points drawn last, on top, ringed in black
            series.append({"name": f"{hw_id} {'measured' if measured else 'published'}", "mode": "points",
                           "color": k, "legend": False, "outline": measured, "hollow": not measured,
                           "points": [(p["bytes"] / 1e9, p["tps"], tip(p)) for p in mine if p["measured"] == measured]})
        series.append({"name": f"{hw_id} {limit:g} GB/s", "mode": "line", "dash": True, "color": k,
                       "points": [(x, limit / x, f"{hw_id}: {limit:g} GB/s") for x in (lo, hi)]})
    series.sort(key=lambda s: bool(s.get("outline")))
    return [charts.xy_chart("roofline", f"Roofline (filled marks: measured here{more})",
                            "GB read per token",
                            "decode tok/s (one stream)", series, log_x=True, log_y=True)]


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
    chart_svgs = (concurrency_charts(doc) + distribution_charts(doc) + comparison_chart(doc)
                  + comparison_chart(doc, metric="prefill_tps") + roofline_chart(doc))
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
