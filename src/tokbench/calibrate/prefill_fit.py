"""Fit the prefill terms: per backend, the share of the FP16 peak each FLOP kind reaches.

Model (:func:`tokbench.plan.speed.prefill_seconds_per_token`): one prompt token costs
``sum_kind FLOPs_kind / (eff_kind * gen * peak)`` (``peak``: :func:`tokbench.plan.speed.matmul_peak`)
plus its share of one ubatch's graph nodes. Kinds: float matmuls (cuBLAS / Metal simdgroup), quantized
matmuls (MMQ), routed experts (tokens split across experts: low efficiency) and attention. Efficiencies
carry priors (Gaussians in log space) so a kind no row exercises keeps a stated typical value; a chip
generation's factor defaults to 1.

No build-era factor: one per backend and era (as the decode fit has) moved leave-one-machine-out prefill
error the wrong way (41.6% -> 43.0% over 532 rows), the eras' rows coming from different sources and
settings as much as from different kernels. Attention run without flash attention (llama-bench's
default before "auto", llama-cpp-python's server's still; :attr:`tokbench.calibrate.rows.Row.flash_attn`)
has an efficiency of its own (``attn_nofa``, not used by the planner): the 2024 rows without it lose
25-45% at a mean depth of 4096 where the H200 with it (in no fit) loses under 10%, and one efficiency
for both made flash-attention prompts at depth far too slow (10 of the H200's 14 pp512 rows at depth
4096 12-64% under). Chosen on the H200's rows (prefill MAPE 38.9% -> 34.5%) against leave-one-machine-out, which
moved the other way (34.2% -> 36.1% over 515 rows): held out, the H100 SXM, the one CUDA machine with
flash-attention rows at depth, leaves that efficiency to its prior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# The routed experts' prior: 0.1 (0.05 before the per-expert column floor of plan.speed.prefill_flops;
# leave-one-machine-out prefill 34.8% at 0.05, 33.5% at 0.1 and at 0.2, over 515 rows).
PRIORS = {"float": (math.log(0.35), 1.0), "quant": (math.log(0.2), 1.0), "moe": (math.log(0.1), 1.5),
          "attn": (math.log(0.2), 1.0)}
DEFAULTS = {k: round(math.exp(m), 6) for k, (m, _) in PRIORS.items()}  # a backend with no prefill rows
PRIOR_GEN = (0.0, 0.5)
KINDS = ("float", "quant", "moe", "attn")
ROW_SD = 0.08  # prefill rows scatter more than decode rows (sd of 3-9 samples is 2-30% on the H100)


@dataclass
class Design:
    """Prefill rows as arrays: FLOPs per kind, parameter indices, fixed seconds, peaks, measured seconds."""

    names: list
    prior: dict
    F: np.ndarray  # (rows, kinds) FLOPs of one prompt token
    ie: np.ndarray  # (rows, kinds) efficiency indices
    ig: np.ndarray  # (rows,) generation factor index
    fixed: np.ndarray  # graph nodes' share per token (decode fit's node cost)
    peak: np.ndarray
    t: np.ndarray  # measured seconds per prompt token
    w: np.ndarray  # row weights (each machine's rows weigh as one machine)


def design(rows, decode_params: dict | None) -> Design:
    """The arrays :func:`fit` and :func:`predict` work on (``decode_params``: the decode fit's document)."""
    from tokbench.catalog.calibration import backend_key, get_calibration
    from tokbench.plan.kv import DEFAULT_UBATCH
    from tokbench.plan.speed import matmul_peak, prefill_flops

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
            # Attention without flash attention (older builds' default, llama-cpp-python's) runs other
            # kernels (the score matrix through the matmul path): an efficiency of its own. The planner
            # predicts today's default, flash attention on ("auto"): ``attn``.
            kind = "attn_nofa" if k == "attn" and not r.flash_attn else k
            ie[i, j] = idx(f"{b}:prefill:{kind}", PRIORS[k])
        ig[i] = idx(f"{b}:prefill_gen:{gen}", PRIOR_GEN)
        k = get_calibration(r.hw, r.engine_id, decode_params) if decode_params else None
        fixed[i] = r.work.nodes * k.node_s / DEFAULT_UBATCH if k else 0.0
        peak[i] = matmul_peak(r.hw)
        t[i] = 1.0 / r.tps
    per_machine: dict[str, int] = {}
    for r in rows:
        per_machine[r.hardware_id] = per_machine.get(r.hardware_id, 0) + 1
    w = np.array([1.0 / (ROW_SD * math.sqrt(per_machine[r.hardware_id])) for r in rows])
    return Design(names, prior, F, ie, ig, fixed, peak, t, w)


def predict(d: Design, th: np.ndarray) -> np.ndarray:
    """Seconds per prompt token of every row of ``d`` at log-parameters ``th``."""
    eff = np.exp(th[d.ie] + th[d.ig][:, None])
    return (d.F / eff).sum(axis=1) / d.peak + d.fixed


def fit_theta(d: Design) -> np.ndarray:
    """Log-parameters of ``d``'s names: least squares of log seconds against the priors."""
    from scipy.optimize import least_squares

    pm = np.array([d.prior[n][0] for n in d.names])
    ps = np.array([d.prior[n][1] for n in d.names])

    def resid(th):
        return np.concatenate([d.w * np.log(predict(d, th) / d.t), (th - pm) / ps])

    return least_squares(resid, pm.copy(), method="trf", max_nfev=400).x


def to_params(d: Design, th: np.ndarray, rows) -> dict:
    """{backend: {"prefill": {kind: eff}, "prefill_gen": {gen: f}, "prefill_hardware": [ids]}} from a fit."""
    from tokbench.catalog.calibration import backend_key

    out: dict = {}
    for n, v in zip(d.names, th):
        backend, term, key = n.split(":")
        b = out.setdefault(backend, {"prefill": {}, "prefill_gen": {}, "prefill_hardware": []})
        b[term][key] = float(math.exp(v))
    for r in rows:
        ids = out[backend_key(r.hw, r.engine_id)]["prefill_hardware"]
        if r.hardware_id not in ids:
            ids.append(r.hardware_id)
    for b in out.values():
        b["prefill_hardware"].sort()
        for k in KINDS:  # a kind no row of the backend ran keeps its prior's typical value
            b["prefill"].setdefault(k, DEFAULTS[k])
    return out


def fit(rows, decode_params: dict | None = None) -> dict:
    """The prefill part of every backend's parameters (:func:`to_params`) from prefill ``rows``."""
    if not rows:
        return {}
    d = design(rows, decode_params)
    return to_params(d, fit_theta(d), rows)
