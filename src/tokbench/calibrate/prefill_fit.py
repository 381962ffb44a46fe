"""Fit the prefill terms: per backend, the share of the FP16 peak each FLOP kind reaches.

Model (:func:`tokbench.plan.speed.prefill_seconds_per_token`): one prompt token costs
``sum_kind FLOPs_kind / (eff_kind * gen * peak)`` plus its share of one ubatch's graph nodes. Kinds:
float matmuls (cuBLAS / Metal simdgroup), quantized matmuls (MMQ), routed experts (tokens split
across experts: low efficiency) and attention. Efficiencies carry priors (Gaussians in log space)
so a kind no row exercises keeps a stated typical value; a chip generation's factor defaults to 1.
"""

from __future__ import annotations

import math

import numpy as np

PRIORS = {"float": (math.log(0.35), 1.0), "quant": (math.log(0.2), 1.0), "moe": (math.log(0.05), 1.5),
          "attn": (math.log(0.2), 1.0)}
PRIOR_GEN = (0.0, 0.5)
KINDS = ("float", "quant", "moe", "attn")
ROW_SD = 0.08  # prefill rows scatter more than decode rows (sd of 3-9 samples is 2-30% on the H100)


def _features(rows, decode_params: dict):
    from tokbench.catalog.calibration import backend_key, get_calibration
    from tokbench.plan.kv import DEFAULT_UBATCH
    from tokbench.plan.speed import prefill_flops

    names: list[str] = []
    prior: dict = {}

    def idx(name: str, ms) -> int:
        if name not in prior:
            prior[name] = ms
            names.append(name)
        return names.index(name)

    R = len(rows)
    F = np.zeros((R, len(KINDS)))
    ie = np.zeros((R, len(KINDS)), dtype=int)
    ig = np.zeros(R, dtype=int)
    fixed, peak, t = np.zeros(R), np.zeros(R), np.zeros(R)
    for i, r in enumerate(rows):
        b = backend_key(r.hw, r.engine_id)
        gen = r.hw.generation or r.hw.id
        f = prefill_flops(r.spec, r.work, r.depth)
        for j, k in enumerate(KINDS):
            F[i, j] = f[k]
            ie[i, j] = idx(f"{b}:prefill:{k}", PRIORS[k])
        ig[i] = idx(f"{b}:prefill_gen:{gen}", PRIOR_GEN)
        k = get_calibration(r.hw, r.engine_id, decode_params) if decode_params else None
        fixed[i] = r.work.nodes * k.node_s / DEFAULT_UBATCH if k else 0.0
        peak[i] = (r.hw.fp16_tflops or 0.1) * 1e12
        t[i] = 1.0 / r.tps
    per_machine: dict[str, int] = {}
    for r in rows:
        per_machine[r.hardware_id] = per_machine.get(r.hardware_id, 0) + 1
    w = np.array([1.0 / (ROW_SD * math.sqrt(per_machine[r.hardware_id])) for r in rows])
    return names, prior, F, ie, ig, fixed, peak, t, w


def fit(rows, decode_params: dict | None = None) -> dict:
    """{backend: {"prefill": {kind: eff}, "prefill_gen": {generation: factor}}} from prefill ``rows``."""
    from scipy.optimize import least_squares

    if not rows:
        return {}
    names, prior, F, ie, ig, fixed, peak, t, w = _features(rows, decode_params)
    pm = np.array([prior[n][0] for n in names])
    ps = np.array([prior[n][1] for n in names])

    def predict(th):
        eff = np.exp(th[ie] + th[ig][:, None])
        return (F / eff).sum(axis=1) / peak + fixed

    def resid(th):
        return np.concatenate([w * np.log(predict(th) / t), (th - pm) / ps])

    th = least_squares(resid, pm.copy(), method="trf", max_nfev=400).x
    out: dict = {}
    for n, v in zip(names, th):
        backend, term, key = n.split(":")
        out.setdefault(backend, {"prefill": {}, "prefill_gen": {}})[term][key] = float(math.exp(v))
    return out
