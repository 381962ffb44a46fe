"""Fit the server and batched-decode terms, after the single-stream kernel terms are fixed.

Three steps, each with the data that pins one term (model: :mod:`tokbench.plan.speed`,
:mod:`tokbench.plan.serving`):

1. llama-server's per-token CPU work ``srv_seq + srv_vocab * vocab``: single-stream rows measured
   through llama-server minus the in-process step time of the same machine, model and depth
   (linear least squares, both >= 0; two vocabularies are needed to tell them apart).
2. ``kappa`` and ``mmq[class]``, per backend and per chip generation with rows of its own: how the
   dot work grows with each column of a batched step up to 8 columns, and the tensor-core kernels'
   work per weight beyond, from pure batched steps: llama-server's median inter-token gap at
   concurrency > 1 and llama-batched-bench aggregates.
3. the prompt-cache save rate of a reused slot, from the per-stream rate of closed-loop sweeps that
   reuse slots (simulated with plan.serving), each simulated on its own measured step (its median
   inter-token gap) so that the rate takes up no error of the batched step's model.
"""

from __future__ import annotations

import math
from dataclasses import replace


def _search(f, lo: float, hi: float, steps: int = 60) -> float:
    """Minimum of a unimodal f on [lo, hi] (golden section)."""
    g = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    for _ in range(steps):
        c, d = b - g * (b - a), a + g * (b - a)
        if f(c) < f(d):
            b = d
        else:
            a = c
    return (a + b) / 2


def server_terms(single, doc: dict) -> dict:
    """{"seq_s", "vocab_s"} from single-stream llama-server rows (see the module docstring)."""
    import numpy as np

    from tokbench.catalog.calibration import get_calibration
    from tokbench.plan.speed import step_time

    if not single:
        return {}
    resid = []
    for r in single:
        k = get_calibration(r.hw, "llama.cpp", doc)
        resid.append(1.0 / r.tps - step_time(r.spec, r.work, r.hw, k, r.depth)[0])
    X = np.array([[1.0, r.spec.vocab] for r in single])
    sol, *_ = np.linalg.lstsq(X, np.array(resid), rcond=None)
    if (sol < 0).any() or len({r.spec.vocab for r in single}) < 2:  # one vocabulary: a per-token constant
        sol = np.array([max(float(np.mean(resid)), 0.0), 0.0])
    return {"seq_s": float(sol[0]), "vocab_s": float(sol[1])}


def batched_terms(batched, doc: dict, backend: str) -> dict:
    """``kappa`` and ``mmq[class]`` of ``backend`` from pure batched steps: rows with ``extra["step_s"]``
    (the measured seconds of one step of ``concurrency`` sequences; ``server`` for llama-server rows).
    Log-space least squares with priors (kappa ~ 0.35, mmq ~ 3.5 within a factor e)."""
    import numpy as np
    from scipy.optimize import least_squares

    from tokbench.catalog.calibration import backend_key, get_calibration
    from tokbench.plan.memory import kernel_class
    from tokbench.plan.speed import BATCH_COLUMNS, step_time

    mine = [r for r in batched if backend_key(r.hw, r.engine_id) == backend]
    if not mine:
        return {}
    classes = sorted({kernel_class(t) for r in mine if r.concurrency > BATCH_COLUMNS for t in r.work.types
                      if kernel_class(t) != "float" or len(r.work.types) == 1})
    names = ["kappa"] + [f"mmq:{c}" for c in classes]
    prior = np.array([math.log(0.35)] + [math.log(3.5)] * len(classes))

    def params(th):
        return {"kappa": math.exp(th[0]), "mmq": {c: math.exp(v) for c, v in zip(classes, th[1:])}}

    def resid(th):
        p = params(th)
        out = []
        for r in mine:
            engine = "llama.cpp-server" if r.server else r.engine_id
            k = replace(get_calibration(r.hw, engine, doc, flash_attn=r.flash_attn), **p)  # as that step ran
            t, _ = step_time(r.spec, r.work, r.hw, k, r.depth, "f16", r.concurrency, r.server)
            out.append(math.log(t / r.extra["step_s"]) / 0.05)
        return np.concatenate([out, th - prior])

    th = least_squares(resid, prior.copy(), method="trf").x
    return params(th) | {"batched_rows": len(mine), "batched_terms": names}


# A chip generation gets batched terms of its own from this many pure batched steps of its machines.
MIN_GENERATION_ROWS = 4


def batched_terms_by_generation(batched, doc: dict, backend: str) -> dict:
    """{generation: batched terms} of ``backend``'s generations with their own rows (at least
    MIN_GENERATION_ROWS), when the backend's rows span more than one generation: the kernels a batched step
    runs differ by chip (llama.cpp's CUDA MMVQ/MMQ choices and tile sizes per architecture: the DGX Spark's
    GB10 has parameters of its own in mmvq.cu), and one fit over a DGX Spark's 120 memory-bound steps and an
    H100's 7 pulled the H100's MoE step at 16 concurrent 29% under and its dense MMVQ work over. Other
    generations keep the backend's terms (the same priors for each fit)."""
    from tokbench.catalog.calibration import backend_key

    mine = [r for r in batched if backend_key(r.hw, r.engine_id) == backend]
    groups: dict[str, list] = {}
    for r in mine:
        groups.setdefault(r.hw.generation or r.hw.id, []).append(r)
    if len(groups) < 2:
        return {}
    out = {}
    for gen, rows in sorted(groups.items()):
        if len(rows) >= MIN_GENERATION_ROWS:
            t = batched_terms(rows, doc, backend)
            out[gen] = {"kappa": t["kappa"], "mmq": t["mmq"], "batched_rows": t["batched_rows"]}
    return out


def save_rate(sweeps, doc: dict) -> float | None:
    """Bytes/s of saving a reused slot's KV to llama-server's prompt cache, from sweeps that reuse slots.

    Each sweep is replayed with the step model scaled to that sweep's measured step (``extra["step_s"]``, the
    median inter-token gap at its concurrency). Fitted on the model's own steps instead, the rate absorbed
    their errors: the H100's qwen3-30b-a3b step at 8 concurrent is predicted 27% fast, and a 103 MB/s "save"
    slowed it back, where the same rate put the H200's dense models' sweeps 20-46% under (sets 5-7)."""
    from tokbench.catalog.calibration import get_calibration
    from tokbench.plan.kv import kv_read_bytes
    from tokbench.plan.serving import sweep_per_stream
    from tokbench.plan.speed import prefill_seconds_per_token, step_time

    reuse = [r for r in sweeps if r.extra["requests"] > r.concurrency > 1]
    if not reuse:
        return None

    def simulate(r, bps: float) -> float:
        k = get_calibration(r.hw, "llama.cpp-server", doc)
        prompt, gen = r.extra["prompt"], r.extra["gen"]
        pp = prefill_seconds_per_token(r.spec, r.work, r.hw, k, prompt / 2) or 0.0
        stall = kv_read_bytes(r.spec, prompt + gen) / bps

        def step(n: int) -> float:
            return step_time(r.spec, r.work, r.hw, k, r.depth, "f16", max(n, 1), True)[0]

        scale = r.extra["step_s"] / step(r.concurrency) if r.extra.get("step_s") else 1.0
        return sweep_per_stream(lambda n: scale * step(n), pp, r.concurrency, prompt, gen, r.extra["requests"], stall)

    def err(log_gbs: float) -> float:
        return sum(math.log(r.tps / simulate(r, 10 ** log_gbs * 1e9)) ** 2 for r in reuse)

    return 10 ** _search(err, -2.0, 2.0) * 1e9
