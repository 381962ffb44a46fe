""""What runs on this machine": for one hardware id (or the probed host), the catalog's model x quant
options ranked by tokbench.plan.recommend, each with its fit, the planner's decode estimate (band and
level), what tokbench measured for that model and quant on that hardware, and the published rows of
it beside. The section is part of the report document (key ``machine``); Markdown and HTML render it
as one more table, every number labelled as the others are.
"""

from __future__ import annotations

from tokbench.report.labels import tokens_text
from tokbench.report.tables import GB, PLANNER_SOURCE, _e, _est_entry, _num, _ref_entry, _run_source

TITLE = "What runs on this machine"


def _hw_base(text: str) -> str:
    return str(text or "").partition(":")[0].lower()


def machine_section(hardware, context: int = 4096, min_tps: float = 1.0, engine: str = "llama.cpp",
                    limit: int = 40, refs: list[dict] | None = None, runs: list[dict] | None = None) -> dict:
    """The ranked options on ``hardware`` (a Hardware, an id, or "host") at ``context`` tokens: every
    catalog model x quant that fits and decodes one stream at >= ``min_tps``, best first (most
    parameters, then most bits, then speed): the first ``limit``, and after them every option that a
    stored run (``runs``) or a published row (``refs``) measured on this hardware."""
    from tokbench.catalog.hardware import get_hardware
    from tokbench.plan.recommend import recommend

    hw = get_hardware(hardware) if isinstance(hardware, str) else hardware
    options = recommend(hw, min_tps, context, engine)
    published = [i for i, r in enumerate(refs or []) if _hw_base(r.get("hardware_id")) == hw.id.lower()]
    seen = {(refs[i]["model_id"], (refs[i]["quant_id"] or "").lower()) for i in published}
    seen |= {((r.get("identity") or {}).get("model"), str((r.get("identity") or {}).get("quant") or "").lower())
             for r in runs or [] if _hw_base((r.get("identity") or {}).get("hardware_id")) == hw.id.lower()}
    for rank, o in enumerate(options, 1):
        o["rank"] = rank
    kept = [o for o in options if o["rank"] <= limit or (o["model"], o["quant"].lower()) in seen]
    return {"hardware": {"id": hw.id, "label": hw.label, "memory_gb": hw.memory_gb, "bandwidth_gbs": hw.bandwidth_gbs,
                         "kind": hw.kind},
            "context": context, "min_tps": min_tps, "engine": engine, "count": len(options), "limit": limit,
            "options": kept, "published": published}


def _published_cells(doc: dict, section: dict, model: str, quant: str) -> list[dict]:
    refs = doc.get("reference_rows") or []
    out = []
    for i in section.get("published", []):
        r = refs[i]
        if r["model_id"] == model and (r["quant_id"] or "").lower() == quant.lower() and r["metric"] == "decode_tps" \
                and (r["concurrency"] or 1) == 1:
            out.append({**_ref_entry(r), "text": f"{r['value_text']} at {tokens_text(r['context'])}"})
    return out


def _measured_cells(doc: dict, section: dict, model: str, quant: str) -> list[dict]:
    hw_id = section["hardware"]["id"]
    out = []
    for run in doc.get("runs") or []:
        ident = run.get("identity") or {}
        if ident.get("model") != model or str(ident.get("quant") or "").lower() != quant.lower() \
                or _hw_base(ident.get("hardware_id")) != hw_id.lower():
            continue
        for s in run["summaries"]:
            v = (s.get("decode_tps_per_stream") or {}).get("p50")
            if v is not None and (s.get("concurrency") or 1) == 1:
                out.append(_e(f"{_num(v)} at {tokens_text(s.get('context_depth') or 0)}", "measured",
                              "measured (tokbench)", _run_source(run)))
    return out


def machine_table(doc: dict) -> dict | None:
    """The section as a table (None when the document has no ``machine`` section)."""
    section = doc.get("machine")
    if not section:
        return None
    hw = section["hardware"]
    est = lambda t: [_e(t, "estimated", "estimated (tokbench)", PLANNER_SOURCE)]  # noqa: E731
    rows = []
    for o in section["options"]:
        rank = o["rank"]
        free = o.get("free_bytes")
        fit = f"{o['total_bytes'] / GB:,.1f} GB" + (f" ({free / GB:,.0f} GB free)" if free is not None else "")
        rows.append([str(rank), o["model"], o["quant"], f"{o['n_params'] / 1e9:,.1f}B",
                     f"{o['bits_per_weight']:.2f}", est(fit), [e for e in [_est_entry(o)] if e],
                     _measured_cells(doc, section, o["model"], o["quant"]),
                     _published_cells(doc, section, o["model"], o["quant"])])
    limit = section.get("limit") or len(section["options"])
    more = (f" The first {limit} of {section['count']} are shown, and after them those measured here or "
            f"published for this hardware." if section["count"] > limit else "")
    note = (f"{hw['label']} ({hw['memory_gb']:g} GB, {hw['bandwidth_gbs']:g} GB/s), {section['engine']}, "
            f"{tokens_text(section['context'])} context, one stream: every catalog model x quant that fits and "
            f"decodes at {section['min_tps']:g} tok/s or more, ranked by parameters, then bits per weight, then "
            f"speed.{more} Measured and published figures of the same model and quant on this hardware beside "
            f"(their context depth named).")
    if not rows:
        note += " No option fits and reaches that speed."
    return {"title": f"{TITLE}: {hw['label']}", "note": note,
            "columns": ["Rank", "Model", "Quant", "Parameters", "Bits/weight", "Memory (planner)",
                        "Decode tok/s estimated", "Measured", "Published"], "rows": rows}
