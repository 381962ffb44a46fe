"""Tables in the seed document's layouts, built from the results document only.

A table is ``{"title", "note", "columns", "rows"}``; a row is a list of cells; a cell is a plain
string (key columns) or a list of entries ``{"text", "provenance", "label", "source"}`` so that every
number carries what it is (measured / estimated / reported) and where it comes from. Markdown and
HTML render the same tables; footnote numbering is theirs.
"""

from __future__ import annotations

from collections import defaultdict

from tokbench.report.labels import UNKNOWN, Unknowns, tokens_text

PLANNER_SOURCE = "tokbench plan: calibrated bandwidth model (tokbench.plan.estimate)"
GB = 1e9


def _e(text: str, provenance: str, label: str, source: str) -> dict:
    return {"text": text, "provenance": provenance, "label": label, "source": source}


def _num(v: float | None, nd: int = 1) -> str:
    return "-" if v is None else f"{v:,.{nd}f}"


def _est_entry(plan: dict | None, concurrency: int = 1) -> dict | None:
    # decode_tps is one stream; above one stream the planner gives per_stream_decode_tps (no band).
    key = "decode_tps" if concurrency <= 1 else "per_stream_decode_tps"
    if not plan or plan.get(key) is None:
        return None
    text = _num(plan[key])
    lo, hi = plan.get(key + "_low"), plan.get(key + "_high")
    level = (plan.get("calibration") or {}).get("level_text")
    # The band and what it rests on (fitted on this chip / same generation / extrapolated) beside
    # the figure: a reader weighs an extrapolation differently from a fit.
    inner = [f"{lo:,.0f}-{hi:,.0f}"] if lo is not None and hi is not None else []
    inner += [level] if level else []
    if inner:
        text += f" ({', '.join(inner)})"
    return _e(text, "estimated", "estimated (tokbench)", PLANNER_SOURCE)


def _measured_text(v: float, conc: int, agg: float | None) -> str:
    """A measured decode figure: per stream, and the aggregate of all streams above one stream."""
    return _num(v) + (f" (agg {agg:,.0f})" if agg and conc > 1 else "")


def _with_bw(entry: dict, bw: dict | None) -> dict:
    """``entry`` with the bandwidth its decode figure implies as ``detail`` (renderers show it beside)."""
    from tokbench.report.bandwidth import text as bw_text

    return {**entry, "detail": bw_text(bw)} if bw else entry


def host_text(host) -> str:
    """The machine of a run in words for a footnote: its probe (a dict) as "name: CPU, N cores, RAM,
    planner hardware", never the dict itself; plain text as is."""
    if not isinstance(host, dict):
        return str(host) if host else "this machine"
    parts = [str(host["cpu"])] if host.get("cpu") else []
    if host.get("cpu_count"):
        parts.append(f"{host['cpu_count']} cores")
    if isinstance(host.get("memory_bytes"), (int, float)) and host["memory_bytes"] > 0:
        parts.append(f"{host['memory_bytes'] / 2**30:.0f} GiB RAM")
    gpus = [g.get("name") for g in host.get("nvidia") or [] if isinstance(g, dict) and g.get("name")]
    if gpus:
        parts.append(" + ".join(gpus))
    hw = host.get("hardware")
    if isinstance(hw, dict) and hw.get("label"):
        parts.append(f"planned as {hw['label']}")
    name = host.get("host") or "this machine"
    return f"{name}: {', '.join(map(str, parts))}" if parts else str(name)


def _run_source(run: dict) -> str:
    from tokbench.report.runs import run_provenance

    prov = run_provenance(run.get("config"), run["id"])
    if prov["role"] == "imported":  # another tool's file: the tool, the file and the machine it names
        tool = prov["label"][len("imported ("):-1]
        return f"{tool} file {prov['source']}, imported {run['created_at']}; {_imported_machine(run)}"
    host = host_text((run.get("environment") or {}).get("host"))
    return f"tokbench run {run['id']} ({run['created_at']}, {host})"


def _imported_machine(run: dict) -> str:
    env = run.get("environment") or {}
    devices = [str(env[k]) for k in ("gpu_info", "cpu_info") if env.get(k)]
    return "measured on " + (" + ".join(devices) if devices else "a machine the file does not name")


def _run_label(run: dict) -> str:
    from tokbench.report.runs import run_provenance

    return run_provenance(run.get("config"), run["id"])["label"]


def _ref_entry(r: dict) -> dict:
    return _e(r["value_text"], r["provenance"], r["label"], r["source"])


def _hw_key(hw_id: str | None, mem: float | None) -> str:
    if not hw_id:
        return UNKNOWN
    return f"{hw_id}:{mem:g}" if mem else hw_id


def _published_bw(r: dict, plan: dict | None) -> dict | None:
    """Bandwidth a published single-stream decode figure implies (the planner's bytes per token)."""
    from tokbench.catalog.hardware import catalog
    from tokbench.report.bandwidth import achieved

    if not plan or (r.get("concurrency") or 1) != 1 or r.get("value") is None:
        return None
    hw = catalog().get(r.get("hardware_id") or "")
    return achieved(r["value"], plan.get("bytes_per_token"), hw.bandwidth_gbs if hw else None)


def speed_entries(doc: dict) -> list[dict]:
    """Every decode tok/s figure of the document with its coordinates (one list all tables share).
    ``context`` is the depth before decoding (tokens); ``who`` names the run or source (table notes)."""
    from tokbench.report.runs import display

    out = []
    for run in doc["runs"]:
        base = {**display(run["identity"], run.get("hardware")), "who": f"run {run['id']}"}
        est = {(e["context_depth"], e["concurrency"]): e["plan"] for e in run.get("estimates", [])}
        for s in run["summaries"]:
            depth, conc = s.get("context_depth") or 0, s.get("concurrency") or 1
            v = (s.get("decode_tps_per_stream") or {}).get("p50")  # the median of possible timings
            if v is not None:
                text = _measured_text(v, conc, s.get("aggregate_output_tps"))
                entry = _e(text, "measured", _run_label(run), _run_source(run))
                out.append({**base, "context": depth, "concurrency": conc, "entry": _with_bw(entry, s.get("bandwidth"))})
            e = _est_entry(est.get((depth, conc)), conc)
            if e:
                out.append({**base, "context": depth, "concurrency": conc, "entry": e})
    refs = doc["reference_rows"]
    # A row measured through llama-server is estimated as llama.cpp-server: show both under that name.
    est_engine = {x["reference_index"]: x["engine"] for x in doc.get("reference_estimates", [])}
    est_plan = {x["reference_index"]: x["plan"] for x in doc.get("reference_estimates", [])}
    for i, r in enumerate(refs):
        if r["metric"] == "decode_tps":
            engine = est_engine.get(i) or r["engine_id"] or r["engine"] or UNKNOWN
            entry = _with_bw(_ref_entry(r), _published_bw(r, est_plan.get(i)))
            out.append({"model": r["model_id"] or r["model"] or UNKNOWN, "quant": r["quant_id"] or r["quant"] or UNKNOWN,
                        "engine": engine, "hardware": _hw_key(r["hardware_id"], r["memory_gb"]),
                        "context": r["context"], "concurrency": r["concurrency"] or 1, "entry": entry,
                        "who": f"published row ({r['section']}, {r['hardware'] or r['model']})"})
    for x in doc.get("reference_estimates", []):
        r = refs[x["reference_index"]]
        e = _est_entry(x["plan"], r["concurrency"] or 1) if r["metric"] == "decode_tps" else None
        if e:
            out.append({"model": r["model_id"], "quant": r["quant_id"], "engine": x["engine"],
                        "hardware": _hw_key(r["hardware_id"], r["memory_gb"]), "context": r["context"],
                        "concurrency": r["concurrency"] or 1, "entry": e, "who": "planner"})
    return out


def _key_text(v) -> str:
    return UNKNOWN if v is None or v == "" else str(v)


def _pivot(entries, key_fn, col_fn, key_names, title, note, col_fmt=str, min_cols=1, col_name="value") -> dict:
    """Rows keyed by ``key_fn``, one column per ``col_fn`` value. A "Context" key column reads as the
    seed writes it (4K); a key or column value not known reads ``labels.UNKNOWN`` and the note says
    once for whom and why."""
    cells: dict[tuple, dict] = defaultdict(lambda: defaultdict(list))
    who: dict[tuple, set] = defaultdict(set)
    for x in entries:
        k, c = key_fn(x), col_fn(x)
        if c is not None:
            cells[k][c].append(x["entry"])
            who[k].add(x.get("who") or "")
    kept = [k for k in sorted(cells, key=lambda t: tuple((str(type(v)), v if v is not None else "") for v in t))
            if len(cells[k]) >= min_cols]
    # Columns only of the rows kept, so a dropped row leaves no empty column behind.
    ordered = sorted({c for k in kept for c in cells[k]}, key=lambda c: (str(type(c)), c))
    unknowns = Unknowns()
    for k in kept:
        for name, v in zip(key_names, k):
            if v in (None, "", UNKNOWN):
                for w in sorted(who[k]):
                    unknowns.add(name.lower(), w)
    fmt = [tokens_text if n == "Context" else _key_text for n in key_names]
    rows = [[f(v) for f, v in zip(fmt, k)] + [cells[k].get(c, []) for c in ordered] for k in kept]
    for c in ordered:
        if c in (None, "", UNKNOWN):
            for k in kept:
                for w in sorted(who[k]) if c in cells[k] else ():
                    unknowns.add(col_name, w)
    cols = [col_fmt(c) if c not in (None, "", UNKNOWN) else f"{col_name} {UNKNOWN}" for c in ordered]
    note = " ".join(x for x in (note, unknowns.note()) if x)
    return {"title": title, "note": note, "columns": list(key_names) + cols, "rows": rows}


def hardware_by_quant(entries: list[dict]) -> list[dict]:
    """Seed 1.1/1.2: single-stream decode tok/s, hardware x quant, one table per model (as the seed
    has one per model class: the columns are that model's quants, so a table stays readable)."""
    single = [x for x in entries if x["concurrency"] == 1]
    out = []
    for model in sorted({x["model"] for x in single}, key=lambda m: (m == UNKNOWN, str(m))):
        mine = [x for x in single if x["model"] == model]
        out.append(_pivot(mine, lambda x: (x["hardware"], x["engine"], x["context"]), lambda x: x["quant"],
                          ("Hardware", "Engine", "Context"),
                          f"Single-stream decode tok/s by hardware and quant: {model}",
                          "Decode tokens per second of one stream at a context depth; measured and published "
                          "figures with the bandwidth they imply (GB/s, % of the machine's); estimates with their "
                          "band and basis.", col_name="quant"))
    return out


def model_by_concurrency(entries: list[dict]) -> dict:
    """Seed 1.3/2.1: per-stream decode tok/s at 1 and 8 (and any other) concurrent requests."""
    return _pivot(entries, lambda x: (x["model"], x["hardware"], x["engine"], x["quant"], x["context"]),
                  lambda x: x["concurrency"], ("Model", "Hardware", "Engine", "Quant", "Context"),
                  "Per-stream decode tok/s by concurrency", "Per stream; measured cells add the aggregate of all "
                  "streams (total) and the bandwidth achieved.",
                  col_fmt=lambda c: f"{c} concurrent", min_cols=2)


def engines_side_by_side(entries: list[dict]) -> dict:
    """Seed "MLX vs llama.cpp": the same model, bits and hardware under each engine."""
    from tokbench.report.reference import quant_bits

    known = [x for x in entries if x["hardware"] != UNKNOWN]  # e.g. the seed's "day one" row names no machine
    return _pivot(known, lambda x: (x["model"], x["hardware"], quant_bits(x["quant"]), x["context"], x["concurrency"]),
                  lambda x: x["engine"], ("Model", "Hardware", "Bits", "Context", "Concurrency"),
                  "Engines side by side (same model, bits and hardware)", "Decode tok/s per stream.", min_cols=2)


def memory_fit(doc: dict) -> dict:
    """Seed 1.4 memory table: model size, + KV, total, and fit per hardware; reported vs estimated."""
    refs = doc["reference_rows"]
    rows: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    hws: list[str] = []
    for r in refs:
        if r["metric"] in ("weights_gb", "total_gb") and r["quant_id"]:
            col = "Model size" if r["metric"] == "weights_gb" else "Total"
            rows[(r["model_id"], r["quant_id"], r["context"])][col].append(_ref_entry(r))
    for r in refs:  # KV rows name no quant: they hold for every quant at that context
        if r["metric"] == "kv_gb":
            for key in [k for k in rows if k[0] == r["model_id"] and k[2] == r["context"]]:
                rows[key]["+ KV"].append(_ref_entry(r))
    for x in doc.get("reference_estimates", []):
        r, p = refs[x["reference_index"]], x["plan"]
        if r["metric"] != "weights_gb" or not p:
            continue
        key = (r["model_id"], r["quant_id"], r["context"])
        est = lambda v: _e(f"{v / GB:,.1f} GB", "estimated", "estimated (tokbench)", PLANNER_SOURCE)  # noqa: E731
        if not rows[key]["Model size"] or rows[key]["Model size"][-1]["provenance"] != "estimated":
            rows[key]["Model size"].append(est(p["weights_bytes"]))
            rows[key]["+ KV"].append(est((p.get("kv_bytes") or 0) + (p.get("state_bytes") or 0)))
            rows[key]["Total"].append(est(p["total_bytes"]))
        col = f"Fits {x['hardware']}?"
        hws.append(col) if col not in hws else None
        free = p.get("free_bytes")
        verdict = ("Yes" if p.get("fits") else "No") + (f" ({free / GB:+,.0f} GB free)" if free is not None else "")
        rows[key][col].append(_e(verdict, "estimated", "estimated (tokbench)", PLANNER_SOURCE))
    _run_memory(doc, rows, hws)
    cols = ["Model size", "+ KV", "Total"] + hws
    out = [[k[0], k[1], tokens_text(k[2])] + [rows[k].get(c, []) for c in cols] for k in sorted(rows, key=str)]
    return {"title": "Memory and fit", "note": "GB = 10^9 bytes; + KV includes recurrent state.",
            "columns": ["Model", "Quant", "Context"] + cols, "rows": out}


def _fit_entry(p: dict) -> dict:
    free = p.get("free_bytes")
    verdict = ("Yes" if p.get("fits") else "No") + (f" ({free / GB:+,.0f} GB free)" if free is not None else "")
    return _e(verdict, "estimated", "estimated (tokbench)", PLANNER_SOURCE)


def _run_memory(doc: dict, rows: dict, hws: list[str]) -> None:
    """The measured runs' models on their own hardware: the planner's memory at the run's deepest point."""
    from tokbench.report.runs import display

    est = lambda v: _e(f"{v / GB:,.2f} GB", "estimated", "estimated (tokbench)", PLANNER_SOURCE)  # noqa: E731
    for run in doc["runs"]:
        plans = [e for e in run.get("estimates", []) if e.get("plan")]
        if not plans:
            continue
        e = max(plans, key=lambda e: ((e["context_depth"] or 0), e["concurrency"] or 1))
        p, d = e["plan"], display(run["identity"], run.get("hardware"))
        key = (d["model"], d["quant"], e["context_depth"] or 0)
        if rows[key]["Model size"]:
            continue
        rows[key]["Model size"].append(est(p["weights_bytes"]))
        rows[key]["+ KV"].append(est((p.get("kv_bytes") or 0) + (p.get("state_bytes") or 0)))
        rows[key]["Total"].append(est(p["total_bytes"]))
        col = f"Fits {d['hardware']}?"
        hws.append(col) if col not in hws else None
        rows[key][col].append(_fit_entry(p))


def estimated_performance(doc: dict) -> dict:
    """Seed 1.4 "Estimated performance": the seed's estimates next to the planner's, with the ceiling;
    each measured run's single-stream points beside the planner's estimate of them."""
    from tokbench.report.runs import display

    refs = doc["reference_rows"]
    est = {x["reference_index"]: x["plan"] for x in doc.get("reference_estimates", [])}
    ceiling = lambda p: [_e(_num(p.get("decode_tps_ceiling")), "estimated", "estimated (tokbench)",  # noqa: E731
                            PLANNER_SOURCE)] if p and p.get("decode_tps_ceiling") else []
    rows = []
    for run in doc["runs"]:
        d, src = display(run["identity"], run.get("hardware")), _run_source(run)
        plans = {(e["context_depth"], e["concurrency"]): e["plan"] for e in run.get("estimates", [])}
        for s in run["summaries"]:
            v = (s.get("decode_tps_per_stream") or {}).get("p50")
            p = plans.get((s.get("context_depth"), s.get("concurrency")))
            if (s.get("concurrency") or 1) != 1 or v is None or not p:
                continue
            rows.append([d["hardware"], d["model"], d["quant"], tokens_text(s.get("context_depth") or 0),
                         [_with_bw(_e(_measured_text(v, 1, None), "measured", "measured (tokbench)", src),
                                   s.get("bandwidth"))],
                         [], [e for e in [_est_entry(p)] if e], ceiling(p)])
    for i, r in enumerate(refs):
        if r["metric"] != "decode_tps" or r["provenance"] != "estimated":
            continue
        p = est.get(i)
        rows.append([_hw_key(r["hardware_id"], r["memory_gb"]), r["model_id"], r["quant_id"], tokens_text(r["context"]),
                     [], [_ref_entry(r)], [e for e in [_est_entry(p)] if e], ceiling(p)])
    return {"title": "Estimated performance",
            "note": "Decode tok/s of one stream; the ceiling is bandwidth / bytes read per token.",
            "columns": ["Config", "Model", "Quant", "Context", "Measured", "Seed estimate", "tokbench estimate",
                        "Ceiling"], "rows": rows}


def runs_table(doc: dict) -> dict:
    """What each stored run measured: model, quant, engine and version, hardware, topology, roles."""
    from tokbench.report.labels import engine_text, topology_text
    from tokbench.report.runs import display, roles

    rows, unknowns = [], Unknowns()
    for run in doc["runs"]:
        ident = run["identity"]
        d = display(ident, run.get("hardware"))
        for k in ("model", "quant", "hardware"):
            if d[k] == UNKNOWN:
                unknowns.add(k, f"run {run['id']}")
        engine = engine_text(ident)
        if ident.get("server") and ident.get("server") not in engine:
            engine += f" (server: {ident['server']})"
        workload = "; ".join(roles(run.get("config"))) or (run.get("config") or {}).get("workload") or "standard"
        rows.append([run["id"], d["model"], d["quant"], engine, d["hardware"],
                     topology_text(ident.get("topology")), workload, run["status"]])
    return {"title": "Runs", "note": " ".join(x for x in ("What each run measured, as stored with it.",
                                                          unknowns.note()) if x),
            "columns": ["Run", "Model", "Quant", "Engine", "Hardware", "Topology", "Workload and roles", "Status"],
            "rows": rows}


def _test_prefill(s: dict) -> float | None:
    """Prefill tok/s of a tool's prompt-processing test (llama-bench ppN), None for other points."""
    return (s.get("prefill_tps") or {}).get("p50") if (s.get("test") or {}).get("n_prompt") else None


def run_points(doc: dict) -> dict:
    """Every measured sweep point: latency percentiles, throughput with the bandwidth achieved
    (goodput beside it when the run has SLOs; prefill when an imported tool's test measured it),
    errors, and the estimate ratio."""
    from tokbench.report.runs import display

    rows, goodput = [], any((s.get("goodput") for run in doc["runs"] for s in run["summaries"]))
    prefill = any(_test_prefill(s) is not None for run in doc["runs"] for s in run["summaries"])
    for run in doc["runs"]:
        est = {(e["context_depth"], e["concurrency"]): e["plan"] for e in run.get("estimates", [])}
        src = _run_source(run)
        m = lambda t: [_e(t, "measured", _run_label(run), src)] if t != "-" else []  # noqa: E731
        d = display(run["identity"], run.get("hardware"))
        for s in run["summaries"]:
            dec = (s.get("decode_tps_per_stream") or {}).get("p50")
            p = est.get((s.get("context_depth"), s.get("concurrency")))
            # Per stream against per stream: above one stream the planner's per_stream_decode_tps.
            key = "decode_tps" if (s.get("concurrency") or 1) <= 1 else "per_stream_decode_tps"
            ratio = [_e(f"{dec / p[key]:.2f}", "estimated", "measured / estimated", PLANNER_SOURCE)] \
                if p and dec and p.get(key) else []
            g = s.get("goodput") or {}
            good = [m(_num((g.get("fraction") or 0) * 100, 0) + "%" if g.get("fraction") is not None else "-")] \
                if goodput else []
            bw = s.get("bandwidth") or {}
            pre = [m(_num(_test_prefill(s)))] if prefill else []
            rows.append([run["id"], f"{d['model']} {d['quant']}", tokens_text(s.get("context_depth") or 0),
                         str(s.get("concurrency")), m(f"{s.get('ok', 0)}/{s.get('requests', 0)}"),
                         m(_num((s.get("ttft_ms") or {}).get("p50"))), m(_num((s.get("itl_ms") or {}).get("p50"), 2)),
                         *pre, m(_num(dec)), m(_num(bw.get("gbs"))),
                         m(f"{bw['pct']:.0f}%" if bw.get("pct") is not None else "-"),
                         m(_num(s.get("aggregate_output_tps"))), *good, ratio])
    return {"title": "Measured runs", "note": "Context = depth before decoding (tokens). Latencies in ms (p50); "
            "decode tok/s per stream (median) with the bandwidth it achieved (GB/s = steps/s x bytes one step "
            "reads; % of the hardware's nominal bandwidth); aggregate tok/s of all streams"
            + ("; prefill: a tool's prompt-processing test (llama-bench ppN)" if prefill else "")
            + ("; goodput: requests within the run's SLOs." if goodput else "."),
            "columns": ["Run", "Model", "Context", "Concurrency", "OK/requests", "TTFT p50", "ITL p50"]
            + (["Prefill tok/s"] if prefill else []) + ["Decode tok/s", "GB/s", "% of BW", "Aggregate tok/s"]
            + (["Goodput"] if goodput else []) + ["Measured / estimated"], "rows": rows}


def validation_table(doc: dict) -> dict:
    """The planner's error against every matched measured or published row."""
    v = doc.get("validation") or {"rows": []}
    rows = []
    for r in v["rows"]:
        label = r.get("label", r.get("provenance", ""))
        rows.append([r["model"], r["quant"], r["hardware"], r["engine"], tokens_text(r["context"]), str(r["concurrency"]),
                     r["metric"], [_e(_num(r["measured_tps"]), r.get("provenance", "measured"), label, r["source"])],
                     [_e(_num(r["estimated_tps"]), "estimated", "estimated (tokbench)", PLANNER_SOURCE)],
                     f"{r['error_pct']:+.1f}%"])
    return {"title": "Planner validation", "note": "error = (estimated - measured) / measured.",
            "columns": ["Model", "Quant", "Hardware", "Engine", "Context", "Concurrency", "Metric",
                        "Measured / published", "Estimated", "Error"], "rows": rows}


def all_tables(doc: dict) -> list[dict]:
    """The report's tables in reading order (empty ones dropped)."""
    from tokbench.report.machine import machine_table

    entries = speed_entries(doc)
    tables = [machine_table(doc) or {"rows": []}, runs_table(doc), run_points(doc), *hardware_by_quant(entries),
              model_by_concurrency(entries), memory_fit(doc),
              estimated_performance(doc), engines_side_by_side(entries), validation_table(doc)]
    return [t for t in tables if t["rows"]]
