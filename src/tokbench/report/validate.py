"""The planner against reality: estimates next to every measured or published row they can match.

A published row matches when its model, quant, hardware, engine and context are known (see
:mod:`tokbench.report.reference` for the id mapping); a stored run matches when its config names a
model the spec readers know and its environment names catalog hardware. Blog *estimates* are not
validated against (an estimate checked against an estimate proves nothing); they appear in reports.
"""

from __future__ import annotations

import math
from collections import defaultdict

# Published/measured metric -> the PlanRow key that estimates it.
PLAN_KEYS = {"decode_tps": "decode_tps", "aggregate_decode_tps": "aggregate_decode_tps", "prefill_tps": "prefill_tps"}


def hardware_family(hw_id: str) -> str:
    """Coarse family for error summaries: apple-m3, nvidia-datacenter, nvidia-geforce, nvidia-gb10, amd."""
    from tokbench.catalog.hardware import catalog

    hw = catalog().get(hw_id.split(":", 1)[0])
    if hw is None:
        return "unknown"
    if hw.kind == "apple":
        return "apple-" + hw.id.split("-", 1)[0]
    if hw.kind == "nvidia":
        if hw.id.startswith("rtx"):
            return "nvidia-geforce"
        return "nvidia-gb10" if hw.id == "dgx-spark" else "nvidia-datacenter"
    return hw.kind


def estimate(spec, quant: str, hardware: str, engine: str, context: int, concurrency: int, **workload) -> dict:
    """``tokbench.plan.estimate(...).to_dict()``; raises UserError (or ImportError before the planner lands)."""
    from tokbench.plan import estimate as plan_estimate

    # The planner sizes a KV cache of `context` cells and wants it positive: a measurement at depth 0
    # (empty prompt) reads next to no KV, as one cell does.
    return plan_estimate(spec, quant, hardware, engine=engine, context=max(1, int(context)),
                         concurrency=max(1, int(concurrency)), **workload).to_dict()


def server_engine(r) -> tuple[str, dict]:
    """(planner engine, sweep workload) of a published row. The engine comes from the one engine
    table (rows measured through llama-server are llama.cpp-server); the campaign's sweeps (tokbench
    bench: 128 generated tokens, 16 requests, depth column = prompt + 64) pass their prompt so other
    requests' prefill is counted."""
    from tokbench.catalog.engines import engine_of_row

    engine = engine_of_row(r.engine_id, r.engine or "")
    if engine != "llama.cpp-server" or r.engine_id == engine:
        return engine, {}
    if r.metric == "decode_tps" and (r.concurrency or 1) > 1 and (r.context or 0) > 64:
        return engine, {"prompt_tokens": r.context - 64, "gen_tokens": 128, "requests": 16}
    return engine, {}


def _hw_text(hw_id: str, memory_gb: float | None) -> str:
    from tokbench.catalog.hardware import catalog

    hw = catalog().get(hw_id)
    if hw is not None and memory_gb is not None and memory_gb in hw.memory_options_gb:
        return f"{hw_id}:{memory_gb:g}"
    return hw_id  # sizes not sold (the seed's 192 GB M3 Ultra) don't change speed: use the default


def plan_value(est: dict, metric: str, concurrency: int) -> float | None:
    """The PlanRow figure that estimates ``metric`` at ``concurrency`` (per stream above one stream)."""
    if metric == "decode_tps" and concurrency > 1:
        return est.get("per_stream_decode_tps")
    return est.get(PLAN_KEYS[metric])


def _row(model, quant, hw, engine, context, conc, metric, measured, est: dict, source, **extra) -> dict | None:
    value = plan_value(est, metric, conc)
    if value is None or not measured:
        return None
    row = {"model": model, "quant": quant, "hardware": hw, "engine": engine, "context": context,
           "concurrency": conc, "metric": metric, "measured_tps": measured, "estimated_tps": value,
           "error_pct": 100.0 * (value - measured) / measured, "source": source,
           "bytes_per_token": est.get("bytes_per_token"), "decode_tps_ceiling": est.get("decode_tps_ceiling")}
    if metric == "decode_tps" and conc == 1:
        row["estimated_low"], row["estimated_high"] = est.get("decode_tps_low"), est.get("decode_tps_high")
    row.update(extra)
    return row


def _calibration_roles() -> dict[tuple[str, str, str, str], tuple[str, str]]:
    """(hardware_id, model_id, quant_id, test) -> (role column, source) of published_measurements.csv."""
    import csv
    from importlib import resources

    text = resources.files("tokbench.catalog").joinpath("data/published_measurements.csv").read_text()
    out, last = {}, ""
    for r in csv.DictReader(text.splitlines()):
        src = r["source"].strip()
        src = last + src[4:] if src.startswith("same") and last else src
        last = src
        out[(r["hardware_id"].split(":", 1)[0], r["model_id"], r["quant_id"], r["test"])] = (r.get("role") or "", src)
    return out


def row_role(r, est: dict, roles: dict) -> str:
    """fit (in the speed model's fit: in-sample) | test (pre-registered: never fitted) | reference (a
    seed/blog figure no fit uses). Out-of-sample accuracy is ``tokbench validate --holdout``."""
    from tokbench.report.reference import CALIBRATION_FILE

    if r.source_file != CALIBRATION_FILE:
        return "reference"
    role, _ = roles.get((r.hardware_id, r.model_id, r.quant_id, r.section), ("", r.source))
    return "test" if role == "test" else "fit"


def published_rows_validation(skipped: list[dict]) -> list[dict]:
    """Rows for every published measured/reported figure the planner can estimate."""
    from tokbench.errors import UserError
    from tokbench.report.reference import load_published_rows, row_spec

    roles = _calibration_roles()
    out = []
    for r in load_published_rows():
        if r.metric not in PLAN_KEYS or r.provenance == "estimated" or r.value is None:
            continue
        missing = [k for k in ("hardware_id", "model_id", "quant_id", "engine_id") if not getattr(r, k)]
        if missing or r.context is None:
            skipped.append({"source": r.source, "model": r.model, "hardware": r.hardware, "metric": r.metric,
                            "reason": "not stated: " + ", ".join(missing or ["context"])})
            continue
        # A prefill row's context is the mean depth of its prompt tokens; the planner's prefill_tps
        # takes a prompt length (mean depth = half of it), so ask for a prompt of twice that depth.
        ctx = 2 * r.context if r.metric == "prefill_tps" else r.context
        engine, workload = server_engine(r)
        try:
            est = estimate(row_spec(r), r.quant_id, _hw_text(r.hardware_id, r.memory_gb), engine,
                           ctx, r.concurrency or 1, **workload)
        except (UserError, ImportError) as exc:  # ImportError: a planner part not built yet (e.g. MLX quant)
            skipped.append({"source": r.source, "model": r.model_id, "hardware": r.hardware_id,
                            "metric": r.metric, "reason": str(exc)})
            continue
        row = _row(r.model_id, r.quant_id, r.hardware_id, engine, r.context, r.concurrency or 1, r.metric,
                   r.value, est, r.source, provenance=r.provenance, label=r.label,
                   measured_low=r.low, measured_high=r.high, role=row_role(r, est, roles))
        if row:
            out.append(row)
    return out


def point_metrics(point: dict) -> list[tuple[str, float | None, int, int]]:
    """(metric, measured tok/s, mean depth, planner context) of one point: decode, and prefill when
    the point has it. A llama-bench test is checked as the H200 predictions were made
    (benchmarks/gpu/preregister.py): tgN at depth d is decoded at mean depth d + N/2; ppN at depth d
    has mean depth d + N/2, and the planner takes a prompt twice that long."""
    depth, test = point.get("context_depth") or 0, point.get("test") or {}
    out = []
    decode = (point.get("decode_tps_per_stream") or {}).get("p50")  # the headline: median
    if decode is not None:
        mean = depth + int(test.get("n_gen") or 0) // 2
        out.append(("decode_tps", decode, mean, mean))
    # tokbench's own prefill figure is per request (prompt / TTFT, queueing included): checked only where
    # the file states the test's prompt (llama-bench's ppN), as the planner's prefill_tps means.
    prefill = (point.get("prefill_tps") or {}).get("p50") if test.get("n_prompt") else None
    if prefill is not None:
        mean = depth + int(test.get("n_prompt") or 0) // 2
        out.append(("prefill_tps", prefill, mean, 2 * mean))
    return out


def _run_skip(info, ident) -> str | None:
    """Why a run cannot be checked against the planner (None when it can)."""
    topo = ident.get("topology") or {}
    if (topo.get("gpus") or 0) > 1 or (topo.get("nodes") or 1) > 1:
        return (f"run over {topo.get('gpus')} GPUs ({topo.get('split') or 'split'}): the single-device planner does "
                "not estimate it")
    return None


def run_rows_validation(store, skipped: list[dict], run_ids: list[str] | None = None) -> list[dict]:
    """Rows for every point of stored runs (measured or imported) whose model and hardware are known:
    decode, and prefill where the run measured it."""
    from tokbench.errors import UserError
    from tokbench.report.runs import hardware_of, identity_spec, run_identity, run_provenance
    from tokbench.store.export import run_summaries

    infos = [store.get_run(i) for i in run_ids] if run_ids else store.list_runs()
    out = []
    for info in infos:
        ident = run_identity(info)
        prov = run_provenance(info.config, info.id)
        role, label, source = prov["role"], prov["label"], prov["source"]
        hw, spec = hardware_of(ident), identity_spec(ident, info)
        reason = _run_skip(info, ident)
        if reason is None and (hw is None or spec is None or not ident["quant"] or not ident["engine"]):
            reason = "run does not name known hardware, model, quant and engine"
        if reason:
            skipped.append({"source": source, "model": ident["model"], "hardware": ident["hardware_id"],
                            "metric": "decode_tps", "reason": reason})
            continue
        for point in run_summaries(store, info.id):  # imported runs may have summaries only
            conc = point.get("concurrency") or 1
            for metric, measured, mean_depth, context in point_metrics(point):
                try:
                    est = estimate(spec, str(ident["quant"]), hw.label, str(ident["engine"]), context, conc)
                except (UserError, ImportError) as exc:
                    skipped.append({"source": source, "model": ident["model"], "hardware": hw.id,
                                    "metric": metric, "reason": str(exc)})
                    continue
                row = _row(str(ident["model"]), str(ident["quant"]), hw.id, str(ident["engine"]), mean_depth, conc,
                           metric, measured, est, source, provenance="measured", label=label, role=role,
                           point=point.get("point"), run_id=info.id)
                if row:
                    out.append(row)
    return out


def _mape(rows: list[dict]) -> dict:
    errs = [abs(r["error_pct"]) for r in rows if r["error_pct"] is not None and math.isfinite(r["error_pct"])]
    return {"n": len(errs), "mape_pct": sum(errs) / len(errs) if errs else None,
            "bias_pct": sum(r["error_pct"] for r in rows) / len(rows) if rows else None}


ROLES = ("fit", "test", "reference", "run", "imported")


def summarize(rows: list[dict], skipped: list[dict]) -> dict:
    """MAPE overall, per engine, hardware family and metric; per engine x hardware with fit and
    held-out rows apart (in-sample fit error is not validation); held-out MAPE per metric."""
    groups: dict[str, dict[str, list[dict]]] = {"by_engine": defaultdict(list), "by_hardware_family": defaultdict(list),
                                                "by_metric": defaultdict(list)}
    split: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    held: dict[str, list[dict]] = defaultdict(list)
    imported: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups["by_engine"][r["engine"]].append(r)
        groups["by_hardware_family"][hardware_family(r["hardware"])].append(r)
        groups["by_metric"][r["metric"]].append(r)
        split[f"{r['engine']} x {r['hardware']}"][r.get("role", "reference")].append(r)
        if r.get("role") == "test":
            held[r["metric"]].append(r)
        if r.get("role") == "imported":
            imported[f"{r['metric']} x {r['hardware']}"].append(r)
    out = {"all": _mape(rows)}
    for name, g in groups.items():
        out[name] = {k: _mape(v) for k, v in sorted(g.items())}
    out["by_engine_hardware_role"] = {k: {role: _mape(v[role]) for role in ROLES if v.get(role)}
                                      for k, v in sorted(split.items())}
    out["test_by_metric"] = {k: _mape(v) for k, v in sorted(held.items())}
    out["imported_by_metric_hardware"] = {k: _mape(v) for k, v in sorted(imported.items())}
    out["skipped"] = skipped
    return out


def validate(store=None, run_ids: list[str] | None = None) -> dict:
    """{"rows": [...], "cluster_rows": [...], "summary": {...}} for published rows (single machines, and
    clusters apart: tokbench.report.validate_clusters) and (with a store) stored runs."""
    from tokbench.report.validate_clusters import cluster_rows_validation, summarize_clusters

    skipped: list[dict] = []
    rows = published_rows_validation(skipped)
    if store is not None:
        rows += run_rows_validation(store, skipped, run_ids)
    clusters = cluster_rows_validation(skipped)
    # Cluster rows are kept and summarized per (engine, split, link) on their own: the single-machine
    # rows and groups (by engine, hardware family, metric) keep meaning one machine.
    summary = summarize(rows, skipped)
    summary["clusters"] = summarize_clusters(clusters)
    return {"rows": rows, "cluster_rows": clusters, "summary": summary}


def split_lines(result: dict) -> list[str]:
    """Text of the pre-registered test rows and of MAPE per engine x hardware with fit and test apart."""
    s = result["summary"]
    held = [r for r in result["rows"] if r.get("role") == "test"]
    out = []
    if held:
        out += ["", "Pre-registered test rows (never fitted):",
                f"  {'model':<20}{'quant':<11}{'hardware':<15}{'ctx':>7}{'c':>4} {'metric':<14}{'measured':>10}"
                f"{'estimated':>10}{'error':>8}"]
        for r in held:
            out.append(f"  {r['model'][:19]:<20}{r['quant'][:10]:<11}{r['hardware'][:14]:<15}{r['context']:>7}"
                       f"{r['concurrency']:>4} {r['metric'][:13]:<14}{r['measured_tps']:>10.1f}"
                       f"{r['estimated_tps']:>10.1f}{r['error_pct']:>+7.1f}%")
        for metric, g in s.get("test_by_metric", {}).items():
            out.append(f"  test {metric}: n={g['n']} MAPE {g['mape_pct']:.1f}%  bias {g['bias_pct']:+.1f}%")
    out += ["", "MAPE per engine x hardware (fit = in-sample, not accuracy: see --holdout; test = pre-registered, "
            "never fitted; reference = seed/blog figures; run = measured by tokbench; imported = other tools' files, "
            "never fitted):"]
    for key, roles in s.get("by_engine_hardware_role", {}).items():
        cells = "  ".join(f"{role} n={g['n']} {g['mape_pct']:.1f}%" for role, g in roles.items())
        out.append(f"  {key:<32}{cells}")
    if s.get("imported_by_metric_hardware"):
        out += ["", "Imported rows (other tools' files, never fitted) per metric x hardware:"]
        for key, g in s["imported_by_metric_hardware"].items():
            out.append(f"  {key:<32}n={g['n']} MAPE {g['mape_pct']:.1f}%  bias {g['bias_pct']:+.1f}%")
    return out
