"""Fitting the speed model across machines, and measuring its accuracy out of sample.

``fit_document(rows)`` turns measured and published rows (:mod:`tokbench.calibrate.rows`) into the
parameter document the planner reads (``catalog/data/speed_params.json``):

1. single-stream decode terms (:mod:`.decode_fit`), all backends jointly (memory technologies are
   shared across them);
2. bands from leave-one-machine-out and leave-one-model-out residuals (:mod:`.holdout`);
3. prefill efficiencies (:mod:`.prefill_fit`);
4. server and batched terms (:mod:`.serving_fit`).

Uses numpy and scipy; the planner itself never imports this package.
"""

from __future__ import annotations

import datetime as _dt

SMOOTH_P = 4.0  # the smooth maximum's exponent (chosen by leave-one-machine-out error; see scripts/fit_speed.py)


def implausible(r) -> str | None:
    """Why a decode row cannot be a clean measurement of the engine, or None: faster than the memory
    bandwidth allows (a transcription error), or a model that does not fit the machine's usable memory
    (the run swapped or streamed from disk)."""
    from tokbench.plan.fit import memory_plan
    from tokbench.plan.memory import usable_memory
    from tokbench.plan.speed import step_bytes

    if r.hw.kind == "cpu":
        return None
    if r.tps > r.hw.bandwidth_bytes / step_bytes(r.spec, r.work, r.depth, "f16", 1).total:
        return "faster than the bandwidth ceiling"
    mp = memory_plan(r.spec, r.quant_id, "llama.cpp", max(r.depth, 512), 1, "f16", r.hw.kind)
    if mp.weights > usable_memory(r.hw).usable_bytes:
        return "weights exceed the machine's usable memory (swapping)"
    return None


def decode_rows(rows, skipped: list | None = None):
    """Single-stream in-process decode rows that may enter a fit (``test`` rows never do; implausible
    rows are left out and, with ``skipped``, listed there with the reason)."""
    out = []
    for r in rows:
        if r.metric != "decode" or r.concurrency != 1 or r.server or r.role == "test":
            continue
        why = implausible(r)
        if why:
            if skipped is not None:
                skipped.append(f"{r.hardware_id} {r.model_id} {r.quant_id} {r.test}: {why}")
            continue
        out.append(r)
    return out


# A longer prompt of a llama-bench series may run this much faster than a shorter one (noise), no more.
PREFILL_RISE = 1.25


def prefill_rows(rows, skipped: list | None = None):
    """Prefill rows that may enter a fit (``test`` rows never do; with ``skipped``, the rows left out are
    listed there with the reason).

    llama.cpp runs a prompt in ubatches of the same size, each with more cache to attend than the last,
    so one source's series of prompt lengths (pp512, pp1024, ... of one machine, model and quant) cannot
    get faster with the prompt's length. A series where a longer prompt ran more than :data:`PREFILL_RISE`
    times as fast as a shorter one timed something else (a first ubatch paying a one-off setup: four
    published series rise 1.4x, 1.5x, 2.2x and 21x) and is left out whole. Only llama-bench series (``ppN``)
    are held to it: mlx-lm's prompt chunks grow with the prompt, and a server's prompt rate carries a
    per-request cost that short prompts pay more of.
    """
    from collections import defaultdict

    from tokbench.plan.speed import matmul_peak

    keep = [r for r in rows if r.metric == "prefill" and r.role != "test" and matmul_peak(r.hw)]
    series: dict = defaultdict(list)
    for r in keep:
        if r.engine_id.startswith("llama.cpp") and r.test.startswith("pp"):
            series[(r.hardware_id, r.model_id, r.quant_id, r.engine_id, r.source)].append(r)
    bad: set = set()
    for key, rs in series.items():
        rs = sorted(rs, key=lambda r: r.depth)
        if any(b.tps > PREFILL_RISE * min(a.tps for a in rs[:i]) for i, b in enumerate(rs) if i):
            bad |= {id(r) for r in rs}
            if skipped is not None:
                skipped.append(f"{key[0]} {key[1]} {key[2]} prefill series "
                               f"{', '.join(f'{r.tps:.0f}' for r in rs)} tok/s: faster with longer prompts")
    return [r for r in keep if id(r) not in bad]


def server_single_rows(rows):
    """Single-stream rows measured through llama-server (for its per-token CPU cost)."""
    return [r for r in rows if r.server and r.concurrency == 1 and r.metric == "decode" and r.role != "test"]


def decode_document(rows, p: float = SMOOTH_P) -> dict:
    """The decode part of the parameter document, fitted on ``rows`` (already filtered)."""
    from tokbench.calibrate import decode_fit as df
    from tokbench.calibrate import prefill_fit
    from tokbench.catalog.calibration import backend_key

    d = df.design(rows, p)
    theta = df.fit(d)
    doc = df.to_params(d, theta)
    doc["p"] = p
    for b, params in doc["backends"].items():
        mine = [r for r in rows if backend_key(r.hw, r.engine_id) == b]
        params["fitted_hardware"] = sorted({r.hardware_id for r in mine})
        params["fitted_archs"] = sorted({r.spec.arch for r in mine})
        params["fitted_types"] = sorted({t for r in mine for t in r.work.types})
        params["n_rows"] = len(mine)
        params.setdefault("kappa", 0.35)
        params.setdefault("prefill", dict(prefill_fit.DEFAULTS))
        params.setdefault("prefill_gen", {})
    doc["bands"] = {"chip": [0.85, 1.15], "generation": [0.75, 1.3], "extrapolated": [0.6, 1.5]}
    doc["server"] = {}
    return doc


def fit_document(rows, p: float = SMOOTH_P, with_bands: bool = True) -> tuple[dict, dict]:
    """(parameter document, leave-one-group-out accuracy) from ``rows`` (every kind; filtered here)."""
    from tokbench.calibrate import holdout, prefill_fit, serving_fit
    from tokbench.catalog.calibration import backend_key

    dec = decode_rows(rows)
    pre_rows = prefill_rows(rows)
    doc = decode_document(dec, p)
    accuracy = {}
    if with_bands:
        refits: dict = {}  # each machine's decode refit: the held-out prefill rows' node cost comes from it
        by_machine = holdout.leave_one_out(dec, "machine", p, params_out=refits)
        by_model = holdout.leave_one_out(dec, "model", p)
        by_arch = holdout.leave_one_out(dec, "arch", p)
        preds = by_machine + [x for x in by_model if x.level == "chip"]
        # CPUs and accelerators get bands of their own: the CPU rows (few machines, per-ISA kernels)
        # miss by far more out of sample, and would otherwise widen every GPU's band.
        on_cpu = {r.hardware_id for r in dec if r.hw.kind == "cpu"}
        doc["bands"] = holdout.bands([x for x in preds if x.hardware_id not in on_cpu])
        doc["bands_cpu"] = holdout.bands([x for x in preds if x.hardware_id in on_cpu])
        # A model of an architecture family never measured on the backend: the spread of predictions
        # for held-out architectures on chips the fit knows (widens the hardware level's band).
        # (CPUs apart: holding out "llama" there leaves a few MoE rows to fit 190 others on.)
        doc["bands"]["arch_new"] = holdout.bands([x for x in by_arch if x.level == "chip" and x.hardware_id not in on_cpu])["chip"]
        doc["bands_cpu"]["arch_new"] = holdout.bands([x for x in by_arch if x.level == "chip" and x.hardware_id in on_cpu])["chip"]
        def split(ps):
            gpu = [x for x in ps if x.hardware_id not in on_cpu]
            cpu = [x for x in ps if x.hardware_id in on_cpu]
            return {"all": holdout.summary(ps, doc["bands"], doc["bands_cpu"], on_cpu)["all"],
                    "accelerators": holdout.summary(gpu, doc["bands"]), "cpus": holdout.summary(cpu, doc["bands_cpu"])}

        accuracy = {"machine": split(by_machine), "model": split(by_model), "arch": split(by_arch)}
        accuracy["predictions"] = [dict(vars(x), error_pct=x.error_pct) for x in by_machine + by_model + by_arch]
        # Prefill: its own leave-one-machine-out, and bands from those residuals (CPUs apart, as for decode).
        pre = holdout.prefill_leave_one_out(pre_rows, doc, refits)
        pre_cpu = {r.hardware_id for r in pre_rows if r.hw.kind == "cpu"}
        gpu_pre = [x for x in pre if x.hardware_id not in pre_cpu]
        cpu_pre = [x for x in pre if x.hardware_id in pre_cpu]
        doc["bands_prefill"], doc["bands_prefill_cpu"] = holdout.bands(gpu_pre), holdout.bands(cpu_pre)
        accuracy["prefill_machine"] = {
            "all": holdout.summary(pre, doc["bands_prefill"], doc["bands_prefill_cpu"], pre_cpu)["all"],
            "accelerators": holdout.summary(gpu_pre, doc["bands_prefill"]),
            "cpus": holdout.summary(cpu_pre, doc["bands_prefill_cpu"])}
        accuracy["prefill_predictions"] = [dict(vars(x), error_pct=x.error_pct) for x in pre]
    for b, pre in prefill_fit.fit(pre_rows, doc).items():
        if b in doc["backends"]:
            doc["backends"][b].update(pre)
    srv = serving_fit.server_terms(server_single_rows(rows), doc)
    if srv:
        doc["server"]["llama.cpp"] = srv
    batched = [r for r in rows if r.extra.get("step_s") and r.role != "test"]
    for b in doc["backends"]:
        doc["backends"][b].update(serving_fit.batched_terms(batched, doc, b))
        by_gen = serving_fit.batched_terms_by_generation(batched, doc, b)
        if by_gen:
            doc["backends"][b]["batched_gen"] = by_gen
    save = serving_fit.save_rate([r for r in rows if r.metric == "sweep" and r.role != "test"], doc)
    if save and "llama.cpp" in doc["server"]:
        doc["server"]["llama.cpp"]["save_bps"] = save
    doc["borrow_widen"] = [0.85, 1.15]
    doc["version"] = 4
    doc["fitted_on"] = {"decode_rows": len(dec), "machines": sorted({r.hardware_id for r in dec}),
                        "backends": sorted({backend_key(r.hw, r.engine_id) for r in dec})}
    doc["date"] = _dt.date.today().isoformat()
    return doc, accuracy
