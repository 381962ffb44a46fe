"""Read results people already have into the store: llama-bench, ``vllm bench serve``, GuideLLM.

Each reader turns a file into :class:`Imported`: a run config with provenance, an environment,
points (label -> summary in :func:`tokbench.metrics.summarize_point`'s shape, plus the tool's own
numbers under ``reported``) and raw request rows where the file has them. Formats, from the tools'
own sources:

- llama-bench ``-o json`` / ``-o jsonl``: one object per test with ``model_filename``,
  ``model_type``, ``n_prompt``, ``n_gen``, ``n_depth``, ``avg_ts``, ``stddev_ts``, ``samples_ts`` ...
  (llama.cpp tools/llama-bench/llama-bench.cpp, ``test::get_fields`` and ``json_printer``);
  ``samples_ts`` = (n_prompt + n_gen) / seconds per repetition.
- ``vllm bench serve --save-result`` (vllm/benchmarks/serve.py): ``completed``, ``failed``,
  ``total_output_tokens``, ``mean_/median_/std_/pNN_{ttft,tpot,itl,e2el}_ms``,
  ``max_concurrency``, ``request_rate``; with ``--save-detailed`` also per-request ``ttfts``,
  ``itls`` (seconds, one gap per streamed chunk), ``latencies``, ``start_times``, ``output_lens``,
  ``input_lens``, ``errors``. ``--append-result`` writes one object per line.
- GuideLLM benchmarks report (guidellm/benchmark/schemas): ``{"benchmarks": [...]}``, each with
  ``metrics`` (distribution summaries split successful / incomplete / errored: ``mean``,
  ``median``, ``percentiles.p90/p99``) and the strategy under ``config`` (v0.4+) or ``args``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokbench.errors import UserError, unknown
from tokbench.metrics import summarize_point
from tokbench.metrics.stats import percentile
from tokbench.records import ERROR, OK, RequestRecord
from tokbench.store.export import EXPORT_VERSION

FORMATS = ("llama-bench", "vllm", "guidellm", "tokbench")


@dataclass
class Imported:
    """One file's content, ready for the store."""

    format: str
    config: dict[str, Any]
    environment: dict[str, Any]
    points: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> point meta
    records: list[RequestRecord] = field(default_factory=list)
    identity: dict[str, Any] | None = None  # tokbench.identity.RunIdentity.to_dict()
    notes: list[str] = field(default_factory=list)  # what could not be identified, one line each
    kind: str = "import"
    name: str | None = None
    status: str = "complete"  # an exported run keeps its own (interrupted runs stay interrupted)
    error: str | None = None


def _empty_summary(concurrency: int, depth: int) -> dict[str, Any]:
    none4 = {"p50": None, "p90": None, "p99": None, "mean": None}
    return {
        "concurrency": concurrency, "context_depth": depth, "requests": 0, "ok": 0, "errors": 0,
        "incomplete": 0, "ttft_ms": dict(none4), "tpot_ms": dict(none4), "itl_ms": dict(none4),
        "e2e_ms": dict(none4), "decode_tps_per_stream": {"mean": None, "p50": None},
        "aggregate_output_tps": None, "output_tokens": 0,
    }


def _unique(label: str, taken: dict) -> str:
    out, n = label, 2
    while out in taken:
        out, n = f"{label} #{n}", n + 1
    return out


# -- llama-bench (tokbench.store.llamabench) ----------------------------------------------------
def read_llama_bench(rows: list[dict], hardware: str | None = None,
                     model: tuple[str, str | None] | None = None) -> list[Imported]:
    """llama-bench tests -> one imported run per model x devices, one point per test."""
    from tokbench.store import llamabench as lb

    lb.check_rows(rows)
    out = []
    for group in lb.group_runs(rows):
        config, environment = lb.run_config(group)
        ident, notes, how = lb.identity(group, hardware, model)
        config["identified_by"] = how  # which field of the file (or flag) gave model, quant and hardware
        imp = Imported("llama-bench", config=config, environment=environment, identity=ident, notes=notes)
        for label, t in zip(lb.labels(group), group):
            imp.points[label] = {"summary": lb.point_summary(t, _empty_summary(1, int(t.get("n_depth") or 0))),
                                 "reported": {k: t[k] for k in lb.KEEP if k in t}, "role": ""}
        out.append(imp)
    return out


# -- vllm bench serve ----------------------------------------------------------------------------
def _vllm_reported_summary(doc: dict, conc: int, depth: int) -> dict[str, Any]:
    s = _empty_summary(conc, depth)
    done, failed = int(doc.get("completed") or 0), int(doc.get("failed") or 0)
    s.update(requests=done + failed, ok=done, errors=failed, output_tokens=int(doc.get("total_output_tokens") or 0),
             aggregate_output_tps=doc.get("output_throughput"), request_throughput=doc.get("request_throughput"),
             duration_s=doc.get("duration"))
    for ours, theirs in (("ttft_ms", "ttft"), ("tpot_ms", "tpot"), ("itl_ms", "itl"), ("e2e_ms", "e2el")):
        s[ours] = {"p50": doc.get(f"median_{theirs}_ms", doc.get(f"p50_{theirs}_ms")),
                   "p90": doc.get(f"p90_{theirs}_ms"), "p99": doc.get(f"p99_{theirs}_ms"),
                   "mean": doc.get(f"mean_{theirs}_ms")}
    tpot = s["tpot_ms"]["p50"]
    # The median of 1000/TPOT is 1000/median(TPOT) (a monotone map); the mean is not derivable.
    s["decode_tps_per_stream"] = {"mean": None, "p50": 1000.0 / tpot if tpot else None}
    if doc.get("request_goodput") is not None:
        s["goodput"] = {"request_rate": doc["request_goodput"]}
    return s


def _vllm_records(doc: dict, label: str, conc: int, depth: int) -> list[RequestRecord]:
    ttfts, n = doc.get("ttfts"), len(doc.get("ttfts") or [])
    if not n:
        return []

    def col(name: str, default: Any) -> list:
        v = doc.get(name)
        return list(v) if isinstance(v, list) and len(v) == n else [default] * n

    itls, lat, starts = col("itls", []), col("latencies", None), col("start_times", None)
    outs, ins, errs = col("output_lens", 0), col("input_lens", 0), col("errors", "")
    recs, clock = [], 0.0
    for i in range(n):
        t0 = float(starts[i]) if starts[i] is not None else clock
        gaps = [float(g) for g in itls[i] or []]
        ok = not errs[i] and (outs[i] or ttfts[i])
        t_first = t0 + float(ttfts[i] or 0.0) if ok else None
        t_end = t0 + float(lat[i]) if lat[i] is not None else (t_first or t0) + sum(gaps)
        times: list[float] = []
        if ok and len(gaps) + 1 == int(outs[i] or 0):  # one gap per token: exact timestamps
            times = [t_first]
            for g in gaps:
                times.append(times[-1] + g)
        recs.append(RequestRecord(
            point=label, index=i, concurrency=conc, context_depth=depth, prompt_tokens=int(ins[i] or 0),
            gen_tokens_requested=int(outs[i] or 0), t_start=t0, t_first_token=t_first, t_end=t_end,
            token_times=times, output_tokens=int(outs[i] or 0), status=OK if ok else ERROR,
            error_class=None if ok else "imported_error", error_message=str(errs[i])[:500] if errs[i] else None,
        ))
        clock = t_end
    return recs


def read_vllm(docs: list[dict]) -> Imported:
    """One or more ``vllm bench serve`` result objects -> one point each."""
    if not docs or any("completed" not in d or "total_output_tokens" not in d for d in docs):
        raise UserError("not vllm bench serve output: expected completed and total_output_tokens")
    first = docs[0]
    imp = Imported(
        "vllm",
        config={"tool": "vllm bench serve", "backend": first.get("backend"), "model": first.get("model_id"),
                "tokenizer": first.get("tokenizer_id"), "date": first.get("date"), "label": first.get("label")},
        environment={},
    )
    for doc in docs:
        rate = doc.get("request_rate")
        conc = doc.get("max_concurrency")
        if conc is None:  # rate "inf" without a cap: every prompt is in flight at once
            conc = doc.get("num_prompts") if rate in ("inf", None) else 0
        conc = int(conc or 0)
        ins = doc.get("input_lens") or []
        depth = int(percentile(ins, 50)) if ins else int(round((doc.get("total_input_tokens") or 0)
                                                                / max(1, doc.get("completed") or 1)))
        label = _unique(f"c={conc} rate={rate}", imp.points)
        recs = _vllm_records(doc, label, conc, depth)
        summary = summarize_point(recs) if recs else _vllm_reported_summary(doc, conc, depth)
        keep = {k: v for k, v in doc.items() if not isinstance(v, list)}
        imp.points[label] = {"summary": summary, "reported": keep, "request_rate": rate}
        imp.records.extend(recs)
    return imp


# -- GuideLLM ------------------------------------------------------------------------------------
def _dist(metric: Any, scale: float = 1.0) -> dict[str, Any]:
    """GuideLLM StatusDistributionSummary -> our p50/p90/p99/mean of successful requests."""
    d = (metric or {}).get("successful") or {}
    if d.get("count") == 0:  # GuideLLM writes 0.0 for every statistic of an empty distribution
        return {"p50": None, "p90": None, "p99": None, "mean": None}
    pct = d.get("percentiles") or {}

    def g(v: Any) -> float | None:
        return None if v is None else float(v) * scale

    return {"p50": g(d.get("median", pct.get("p50"))), "p90": g(pct.get("p90")), "p99": g(pct.get("p99")),
            "mean": g(d.get("mean"))}


def _guidellm_concurrency(b: dict) -> tuple[int, str]:
    strat = (b.get("config") or {}).get("strategy") or (b.get("args") or {}).get("strategy") or {}
    kind = strat.get("type_") or strat.get("type") or "unknown"
    if kind == "synchronous":
        return 1, kind
    conc = strat.get("streams") or strat.get("max_concurrency") or 0
    if not conc:  # rate-based: report the measured mean concurrency, rounded
        mean = ((b.get("metrics") or {}).get("request_concurrency") or {}).get("successful", {}).get("mean")
        conc = round(mean) if mean else 0
    if isinstance(conc, list):
        conc = conc[0]
    return int(conc), kind


def _guidellm_point(b: dict, conc: int) -> dict[str, Any]:
    m = b.get("metrics") or {}
    totals = m.get("request_totals") or b.get("request_totals") or {}
    ok, err, inc = (int(totals.get(k) or 0) for k in ("successful", "errored", "incomplete"))
    prompt = ((m.get("prompt_token_count") or {}).get("successful") or {})
    out_tok = ((m.get("output_token_count") or {}).get("successful") or {})
    s = _empty_summary(conc, int(round(prompt.get("median") or prompt.get("mean") or 0)))
    s.update(requests=ok + err + inc, ok=ok, errors=err, incomplete=inc,
             output_tokens=int(out_tok.get("total_sum") or 0),
             ttft_ms=_dist(m.get("time_to_first_token_ms")), tpot_ms=_dist(m.get("time_per_output_token_ms")),
             itl_ms=_dist(m.get("inter_token_latency_ms")), e2e_ms=_dist(m.get("request_latency"), 1000.0))
    s["aggregate_output_tps"] = _dist(m.get("output_tokens_per_second"))["mean"]
    s["request_throughput"] = _dist(m.get("requests_per_second"))["mean"]
    tpot = s["tpot_ms"]["p50"]
    s["decode_tps_per_stream"] = {"mean": None, "p50": 1000.0 / tpot if tpot else None}
    return s


def read_guidellm(doc: dict) -> Imported:
    """A GuideLLM benchmarks report -> one point per benchmark (strategy)."""
    benches = doc.get("benchmarks") if isinstance(doc, dict) else None
    if not isinstance(benches, list) or not benches or not all(isinstance(b, dict) and "metrics" in b for b in benches):
        raise UserError("not a GuideLLM report: expected {\"benchmarks\": [{\"metrics\": ...}, ...]}")
    first = benches[0]
    backend = (first.get("config") or {}).get("backend") or first.get("backend") or {}
    imp = Imported("guidellm", config={"tool": "guidellm", "metadata": doc.get("metadata"),
                                       "model": (backend or {}).get("model") if isinstance(backend, dict) else None},
                   environment={})
    for b in benches:
        conc, kind = _guidellm_concurrency(b)
        label = _unique(f"{kind} c={conc}", imp.points)
        imp.points[label] = {"summary": _guidellm_point(b, conc), "strategy": kind,
                             "reported": {"duration": b.get("duration"), "start_time": b.get("start_time")}}
    return imp


# -- tokbench export (round trip) ----------------------------------------------------------------
def read_export(doc: dict) -> Imported:
    """A ``tokbench export`` JSON document -> the same run: kind, name, config (identity included),
    environment, every point's meta and every raw row (warm-up included)."""
    run = doc.get("run")
    if not isinstance(run, dict) or not isinstance(doc.get("points"), dict):
        raise UserError("not a tokbench export: expected {\"tokbench_export\": 1, \"run\": ..., \"points\": ...}")
    if int(doc.get("tokbench_export") or 0) > EXPORT_VERSION:
        raise UserError(f"tokbench export version {doc['tokbench_export']} is newer than this tokbench reads "
                        f"({EXPORT_VERSION}); upgrade tokbench")
    config = dict(run.get("config") or {})
    imp = Imported("tokbench", config=config, environment=dict(run.get("environment") or {}),
                   points=dict(doc["points"]), identity=config.get("identity"), kind=str(run.get("kind") or "import"),
                   name=run.get("name"))
    imp.error = run.get("error")
    imp.status = run.get("status") if run.get("status") in ("complete", "interrupted", "failed") else "interrupted"
    imp.records = [RequestRecord.from_dict(r) for r in doc.get("records") or []]
    return imp


# -- entry point ---------------------------------------------------------------------------------
def _parse(text: str, path: Path) -> list[Any]:
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        pass
    docs = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                docs.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}: line {n} is not JSON ({exc.msg})") from None
    if not docs:
        raise UserError(f"{path} is empty")
    return docs


def detect_format(docs: list[Any]) -> str:
    """Guess the tool that wrote ``docs`` (parsed JSON values) from their keys."""
    from tokbench.store.llamabench import is_llama_bench

    flat = [x for d in docs for x in (d if isinstance(d, list) else [d])]
    if flat and all(isinstance(x, dict) for x in flat):
        if is_llama_bench(flat):
            return "llama-bench"
        if all("completed" in x and "total_output_tokens" in x for x in flat):
            return "vllm"
        if len(flat) == 1 and "tokbench_export" in flat[0]:
            return "tokbench"
        if len(flat) == 1 and isinstance(flat[0].get("benchmarks"), list):
            return "guidellm"
    raise UserError("cannot tell which tool wrote this file; pass --format " + "|".join(FORMATS))


def _read(fmt: str, flat: list[dict], hardware: str | None, model) -> list[Imported]:
    one = flat[0] if len(flat) == 1 else {}
    if fmt == "llama-bench":
        return read_llama_bench(flat, hardware, model)
    imp = {"vllm": lambda: read_vllm(flat), "guidellm": lambda: read_guidellm(one),
           "tokbench": lambda: read_export(one)}[fmt]()
    if fmt != "tokbench":
        imp.identity, imp.notes = import_identity(imp, hardware, model)
    elif hardware or model:
        raise UserError("a tokbench export keeps the identity it was stored with; --hardware/--model do not apply")
    return [imp]


def read_file(path: str | Path, fmt: str | None = None, hardware: str | None = None,
              model: str | None = None) -> list[Imported]:
    """Read ``path`` (JSON or JSONL) written by ``fmt`` (detected when None): one
    Imported per run it holds. ``hardware`` (a catalog id) and ``model`` (``ID[:QUANT]``) override
    what the file says; both are checked before the file is read."""
    from tokbench.store.identify import check_hardware_override, parse_model_override

    p = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise unknown("import format", fmt, FORMATS)
    hw = check_hardware_override(hardware) if hardware else None
    mdl = parse_model_override(model) if model else None
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {p}: {exc.strerror}") from None
    try:
        docs = _parse(raw.decode("utf-8"), p)
    except UnicodeDecodeError:
        raise UserError(f"{p} is not UTF-8 text") from None
    fmt = fmt or detect_format(docs)
    flat = [x for d in docs for x in (d if isinstance(d, list) else [d])]
    if not all(isinstance(x, dict) for x in flat):
        raise UserError(f"{p}: expected JSON objects")
    try:
        imps = _read(fmt, flat, hw, mdl)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{p}: malformed {fmt} file ({type(exc).__name__}: {exc})") from None
    source = {"format": fmt, "file": p.name, "path": str(p.resolve()),
              "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
    for imp in imps:
        # A re-imported export keeps its own source (the tool file it came from); where it came back from beside it.
        imp.config["imported_from" if fmt == "tokbench" else "source"] = source
    return imps


def import_identity(imp: Imported, hardware: str | None = None, model: tuple[str, str | None] | None = None
                    ) -> tuple[dict, list[str]]:
    """(run identity, what could not be identified) of a vllm or GuideLLM file: the model it names
    (its catalog id when it maps to one), the engine when the tool says which server it drove."""
    from tokbench.identity import RunIdentity, Topology
    from tokbench.report.reference import map_model

    named = imp.config.get("model")
    model_id, quant = model if model else (map_model(str(named)) or named if named else None, None)
    engine = "vllm" if imp.format == "vllm" and imp.config.get("backend") == "vllm" else "openai"
    notes = []
    if model_id is None:
        notes.append("model: the file names none (--model ID[:QUANT] sets it)")
    if quant is None:
        notes.append("quant: the file does not say (--model ID:QUANT sets it)")
    if hardware is None:
        notes.append("hardware: the file does not say which machine served it (--hardware ID sets it)")
    ident = RunIdentity(model_id, quant, hardware, engine, "", imp.format, None, named, topology=Topology(gpus=None))
    return ident.to_dict(), notes


def store_import(store, imp: Imported, name: str | None = None) -> str:
    """Write ``imp`` as a run (kind ``import``, or the exported run's kind); returns the run id."""
    if imp.identity is not None:
        imp.config["identity"] = imp.identity
    run_id = store.create_run(imp.kind, imp.config, imp.environment, name=name or imp.name)
    try:
        for label, meta in imp.points.items():
            store.set_point_meta(run_id, label, meta)
        if imp.records:
            store.add_records(run_id, imp.records)
    except BaseException as exc:
        store.finish_run(run_id, "failed", error=f"import failed: {exc}")
        raise
    store.finish_run(run_id, imp.status, error=imp.error)
    return run_id
