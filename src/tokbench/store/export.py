"""Runs out of the store: summaries for any run, and CSV / JSON documents of raw rows."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from tokbench.metrics import summarize_run

EXPORT_VERSION = 1
RECORD_COLUMNS = (
    "point", "index", "concurrency", "context_depth", "prompt_tokens", "gen_tokens_requested", "t_start",
    "t_first_token", "t_end", "output_tokens", "usage_output_tokens", "usage_prompt_tokens", "status",
    "error_class", "error_message", "warmup", "role", "token_times", "native",
)


def run_summaries(store, run_id: str, slo: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Per-point summaries of a run: recomputed from raw rows when it has them (so definitions
    can change), else the summaries stored in point meta (imported runs without raw rows)."""
    records = store.records(run_id)
    if records:
        metas = store.point_meta(run_id)
        counters = {k: m.get("server_counters") for k, m in metas.items() if isinstance(m, dict)}
        rows = summarize_run(records, slo, counters)
        for row in rows:
            extra = metas.get(row.get("point")) or {}
            if "reported" in extra:
                row["reported"] = extra["reported"]
        return rows
    rows = []
    for label, meta in store.point_meta(run_id).items():
        if isinstance(meta.get("summary"), dict):
            rows.append({"point": label, **meta["summary"]})
    return rows


def export_json(store, run_id: str) -> dict[str, Any]:
    """Self-describing document: run, points, per-point results and every raw row."""
    info = store.get_run(run_id)
    return {
        "tokbench_export": EXPORT_VERSION,
        "run": info.to_dict(),
        "points": store.point_meta(run_id),
        "results": run_summaries(store, run_id),
        "records": [r.to_dict() for r in store.records(run_id, include_warmup=True)],
    }


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k not in ("reported",):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, (list, dict)):
            out[key] = json.dumps(v)
        else:
            out[key] = v
    return out


def records_csv(store, run_id: str) -> str:
    """Raw rows as CSV, one request a line (token_times and native as JSON text)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("run_id",) + RECORD_COLUMNS)
    for r in store.records(run_id, include_warmup=True):
        d = r.to_dict()
        w.writerow([run_id] + [json.dumps(d[c]) if c in ("token_times", "native") else d[c] for c in RECORD_COLUMNS])
    return buf.getvalue()


def summary_csv(store, run_id: str) -> str:
    """Per-point summaries as CSV, nested keys flattened (``ttft_ms.p50``)."""
    rows = [_flatten(r) for r in run_summaries(store, run_id)]
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["run_id"] + cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({"run_id": run_id, **r})
    return buf.getvalue()
