"""The results document: one versioned, self-describing JSON object that every renderer reads.

Following guidellm's idea (one report schema, many renderers): ``build_document`` gathers stored
runs (summaries from tokbench.metrics, per-request samples for distributions), the planner's
estimates for them and for the published rows, the published rows themselves and the validation of
the planner; ``tokbench report --format json`` prints it, Markdown and HTML render it. Renderers
never read the store or call the planner: what is not in the document is not in the report.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

SCHEMA = "tokbench.report"
SCHEMA_VERSION = 1
MAX_SAMPLES = 2000  # per point and metric: enough for a distribution chart, small enough to inline

PROVENANCE = {
    "measured": "measured by tokbench on this machine (stored run) or measured here and published with the method",
    "estimated": "computed, not measured: tokbench's planner, or an estimate published in the seed document",
    "reported": "published by others (blog, forum, benchmark file); not re-measured here",
}

# Hardware the seed's memory table asks about ("Fits 256 GB? Fits 512 GB?").
MEMORY_HARDWARE = ("m3-ultra-80c:256", "m3-ultra-80c:512")


def _safe_estimate(spec, quant, hardware, engine, context, concurrency, **workload) -> tuple[dict | None, str | None]:
    from tokbench.errors import UserError
    from tokbench.report.validate import estimate

    try:
        return estimate(spec, quant, hardware, engine, context, concurrency, **workload), None
    except UserError as exc:
        return None, str(exc)
    except ImportError as exc:  # a planner part not built yet
        return None, f"planner cannot estimate this: {exc}"


def _samples(records) -> dict[str, list[float]]:
    from tokbench import metrics as m
    from tokbench.records import OK

    ok = [r for r in records if r.status == OK and not r.warmup]
    ttft = [v for v in (m.ttft_ms(r) for r in ok) if v is not None]
    dec = [v for v in (m.decode_tps(r) for r in ok) if v is not None]
    itl = [v for r in ok for v in m.itl_ms(r)]
    if len(itl) > MAX_SAMPLES:  # evenly thinned, deterministic: the shape of the distribution stays
        step = len(itl) / MAX_SAMPLES
        itl = [itl[int(i * step)] for i in range(MAX_SAMPLES)]
    return {"ttft_ms": ttft[:MAX_SAMPLES], "itl_ms": itl, "decode_tps": dec[:MAX_SAMPLES]}


def _hardware_dict(hw) -> dict | None:
    if hw is None:
        return None
    return {"id": hw.id, "label": hw.label, "name": hw.name, "bandwidth_gbs": hw.bandwidth_gbs,
            "memory_gb": hw.memory_gb, "kind": hw.kind}


def run_entry(store, info) -> dict:
    """One run of the document: identity, summaries per point, samples, and the planner's estimates."""
    from tokbench.metrics import group_points
    from tokbench.report.agents import agent_entry
    from tokbench.report.runs import hardware_of, identity_spec, run_identity
    from tokbench.store.export import run_summaries

    records = store.records(info.id)
    ident = run_identity(info)
    hw, spec = hardware_of(ident, info), identity_spec(ident, info)
    if spec is None:  # a model file still on this machine (the cached default model, a --model PATH)
        from tokbench.report.planview import _spec_and_quant

        spec = _spec_and_quant(ident, ((info.environment or {}).get("model") or {}).get("path"))[0]
    # From raw rows when the run has them; imported runs (llama-bench, vllm, GuideLLM) may carry
    # only the summaries their file had. Goodput with the SLOs the run was measured under.
    summaries = run_summaries(store, info.id, (info.config or {}).get("slo"))
    samples = {label: _samples(recs) for label, recs in group_points(records).items()}
    from tokbench.report import bandwidth

    bandwidth.attach(summaries, spec, ident.get("quant"), hw.bandwidth_gbs if hw is not None else None)
    estimates = []
    if hw is not None and spec is not None and ident["quant"] and ident["engine"]:
        for s in summaries:
            est, err = _safe_estimate(spec, str(ident["quant"]), hw, str(ident["engine"]),
                                      s.get("context_depth") or 0, s.get("concurrency") or 1)
            estimates.append({"context_depth": s.get("context_depth"), "concurrency": s.get("concurrency"),
                              "plan": est, "error": err})
    return {
        "id": info.id, "name": info.name, "kind": info.kind, "status": info.status, "created_at": info.created_at,
        "finished_at": info.finished_at, "identity": ident, "hardware": _hardware_dict(hw),
        "config": info.config, "environment": info.environment, "requests": info.requests, "ok": info.ok,
        "errors": info.errors, "incomplete": info.incomplete, "summaries": summaries, "samples": samples,
        "estimates": estimates,
        # Agent workload runs: summary recomputed from the raw rows + phases, and the stored plan.
        "agents": agent_entry(records, store.point_meta(info.id), info.config),
    }


def reference_estimates(rows) -> list[dict]:
    """Planner estimates for published speed rows (every provenance) and the seed's memory rows."""
    from tokbench.report.reference import row_spec
    from tokbench.report.validate import PLAN_KEYS, _hw_text, server_engine

    out, specs = [], {}
    for i, r in enumerate(rows):
        if not (r.model_id and r.quant_id and r.context is not None):
            continue
        workload: dict = {}
        if r.metric in PLAN_KEYS and r.hardware_id and r.engine_id:
            # Same engine mapping as `tokbench validate`: rows measured through llama-server are
            # estimated as llama.cpp-server, with the sweep they came from.
            engine, workload = server_engine(r)
            targets = [(_hw_text(r.hardware_id, r.memory_gb), engine)]
        elif r.metric in ("weights_gb", "total_gb"):
            targets = [(h, "llama.cpp") for h in MEMORY_HARDWARE]
        else:
            continue
        if r.model_id not in specs:
            try:
                specs[r.model_id] = row_spec(r)
            except Exception as exc:  # noqa: BLE001 - a spec reader's error: recorded, the report goes on
                specs[r.model_id] = exc
        spec = specs[r.model_id]
        for hw, engine in targets:
            if isinstance(spec, Exception):
                est, err = None, str(spec)
            else:
                est, err = _safe_estimate(spec, r.quant_id, hw, engine, r.context, r.concurrency or 1, **workload)
            out.append({"reference_index": i, "hardware": hw, "engine": engine, "plan": est, "error": err})
    return out


def build_document(store=None, run_ids: list[str] | None = None, with_reference: bool = True,
                   machine: dict | None = None) -> dict:
    """The results document (see module docstring). ``run_ids`` are full ids; None means all runs.
    ``machine``: keyword arguments of :func:`tokbench.report.machine.machine_section` (``hardware``,
    ``context``, ``min_tps``) for the "What runs on this machine" section."""
    from tokbench import __version__
    from tokbench.report.reference import load_published_rows
    from tokbench.report.validate import validate

    infos = []
    if store is not None:
        infos = [store.get_run(i) for i in run_ids] if run_ids else list(reversed(store.list_runs()))
    runs = [run_entry(store, info) for info in infos]
    refs = load_published_rows() if with_reference else []
    try:
        validation = validate(store, [i.id for i in infos]) if (with_reference or infos) else None
    except ImportError:
        validation = None
    doc = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tokbench_version": __version__, "provenance": PROVENANCE,
        "runs": runs,
        "reference_rows": [r.to_dict() for r in refs],
        "reference_estimates": reference_estimates(refs),
        "validation": validation,
    }
    if machine:
        from tokbench.report.machine import machine_section

        doc["machine"] = machine_section(**machine, refs=doc["reference_rows"], runs=runs)
    return clean(doc)


def clean(value):
    """Replace NaN/inf by None so the document is strict JSON everywhere it goes."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value
