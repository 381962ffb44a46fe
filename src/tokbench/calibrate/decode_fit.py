"""Fit the single-stream decode terms of the speed model across machines (vectorized, numpy + scipy).

The model is :mod:`tokbench.plan.speed`'s, written here once more over arrays of rows so a fit takes
a fraction of a second (the leave-one-group-out checks refit it dozens of times); a test checks
that both give the same seconds for every row. Parameters live in log space and each carries a
prior (a Gaussian in log space), so that a term the rows cannot pin stays at a stated typical value
instead of running off: a chip generation's factor defaults to 1, a storage type's to its class.

Unknowns (see :mod:`tokbench.catalog.calibration` for their meaning):
``mem[group]``, and per backend: ``rho_class[class]``, ``rho_type[type]``, ``rho_gen[generation]``,
``node_s``, ``node_gen[generation]`` (also scales ``row_s``), ``row_s``, ``eta_kv``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tokbench.plan.memory import kernel_class

# Priors: (mean of the log, sd of the log). Wide where the physics leaves room, narrow for factors
# that should stay near 1 unless the rows say otherwise.
PRIOR_MEM = (math.log(0.8), 0.3)
PRIOR_RHO_CLASS = (math.log(8.0), 2.5)
PRIOR_RHO_TYPE = (0.0, 0.4)
PRIOR_RHO_GEN = (0.0, 0.5)
PRIOR_NODE = (math.log(2e-6), 2.5)
PRIOR_NODE_GEN = (0.0, 0.5)
PRIOR_ROW = (math.log(2e-9), 2.5)  # a matrix kernel's last wave: seconds per weight of one row
PRIOR_ETA_KV = (math.log(0.7), 0.4)
# A row's log error is weighed against a typical model error of 5%; a machine with n rows counts as
# sqrt(n) rows, so the H100 campaign's dozens of rows do not drown one-row scoreboard machines.
ROW_SD = 0.05


@dataclass
class Design:
    """Row features as arrays, and the parameter layout."""

    names: list[str]  # parameter names, e.g. "mem:hbm", "llama.cpp/cuda:rho_class:kquant"
    prior_mean: np.ndarray
    prior_sd: np.ndarray
    mem_bytes: np.ndarray  # (rows, types) bytes read at one stream
    work: np.ndarray  # (rows, types) weights multiplied at one stream
    row_sum: np.ndarray  # (rows, types) sum of the matrices' row lengths
    kv_bytes: np.ndarray  # (rows,)
    nodes: np.ndarray  # graph nodes that are not matrix kernels
    bw: np.ndarray
    rate: np.ndarray
    t_meas: np.ndarray
    weight: np.ndarray
    i_mem: np.ndarray  # (rows,) parameter index of each row's memory group
    i_rho: np.ndarray  # (rows, types, 3) indices of class, type, generation terms (-1: none)
    i_node: np.ndarray  # (rows, 3) node base, node generation and matmul-node indices
    i_kv: np.ndarray  # (rows,)
    p: float


def _index(names: list[str], prior: dict, name: str, mean_sd: tuple[float, float]) -> int:
    if name not in prior:
        prior[name] = mean_sd
        names.append(name)
    return names.index(name)


def design(rows, p: float) -> Design:
    """Arrays and parameter layout for single-stream decode ``rows`` (attached calibrate.rows.Row)."""
    from tokbench.catalog.calibration import backend_key
    from tokbench.plan.memory import expert_fraction
    from tokbench.plan.speed import roof_rate, step_bytes

    types = sorted({t for r in rows for t in r.work.types})
    names: list[str] = []
    prior: dict[str, tuple[float, float]] = {}
    R, T = len(rows), len(types)
    mem_b, work, row_sum = np.zeros((R, T)), np.zeros((R, T)), np.zeros((R, T))
    i_rho = -np.ones((R, T, 3), dtype=int)
    i_mem, i_kv = np.zeros(R, dtype=int), np.zeros(R, dtype=int)
    i_node = -np.ones((R, 3), dtype=int)
    kv, nodes, bw, rate, t = (np.zeros(R) for _ in range(5))
    per_machine: dict[str, int] = {}
    for r in rows:
        per_machine[r.hardware_id] = per_machine.get(r.hardware_id, 0) + 1
    for i, r in enumerate(rows):
        b = backend_key(r.hw, r.engine_id)
        gen = r.hw.generation or r.hw.id
        frac = expert_fraction(r.spec, 1)
        used = (r.spec.n_experts_used / r.spec.n_experts) if r.spec.n_experts else 0.0
        for j, ty in enumerate(types):
            w = r.work.types.get(ty)
            if w is None:
                continue
            mem_b[i, j] = w.dense_bytes + frac * w.expert_bytes
            work[i, j] = w.dense_elems + used * w.expert_elems
            row_sum[i, j] = w.row_sum
            i_rho[i, j, 0] = _index(names, prior, f"{b}:rho_class:{kernel_class(ty)}", PRIOR_RHO_CLASS)
            i_rho[i, j, 1] = _index(names, prior, f"{b}:rho_type:{ty}", PRIOR_RHO_TYPE)
            i_rho[i, j, 2] = _index(names, prior, f"{b}:rho_gen:{gen}", PRIOR_RHO_GEN)
        sb = step_bytes(r.spec, r.work, r.depth, "f16", 1)
        kv[i] = sb.kv + sb.state
        nodes[i] = r.work.nodes - r.work.matmul_nodes  # matrix kernels pay mm_s inside their roof
        bw[i] = r.hw.bandwidth_bytes
        rate[i] = roof_rate(r.hw)
        t[i] = 1.0 / r.tps
        i_mem[i] = _index(names, prior, f"mem:{r.hw.memory_group}", PRIOR_MEM)
        i_node[i, 0] = _index(names, prior, f"{b}:node_s", PRIOR_NODE)
        i_node[i, 1] = _index(names, prior, f"{b}:node_gen:{gen}", PRIOR_NODE_GEN)
        i_node[i, 2] = _index(names, prior, f"{b}:row_s", PRIOR_ROW)
        i_kv[i] = _index(names, prior, f"{b}:eta_kv", PRIOR_ETA_KV)
    weight = np.array([1.0 / (ROW_SD * math.sqrt(per_machine[r.hardware_id])) for r in rows])
    pm = np.array([prior[n][0] for n in names])
    ps = np.array([prior[n][1] for n in names])
    return Design(names, pm, ps, mem_b, work, row_sum, kv, nodes, bw, rate, t, weight, i_mem, i_rho, i_node, i_kv, p)


def predict(d: Design, theta: np.ndarray) -> np.ndarray:
    """Seconds per token of every row under log-parameters ``theta``."""
    eta = np.exp(theta[d.i_mem])
    bw_eff = eta * d.bw
    logrho = np.where(d.i_rho >= 0, theta[np.maximum(d.i_rho, 0)], 0.0).sum(axis=2)
    gen = np.exp(theta[d.i_node[:, 1]])
    mem = d.mem_bytes / bw_eff[:, None]
    cmp = d.work / (np.exp(logrho) * d.rate[:, None]) + d.row_sum * (np.exp(theta[d.i_node[:, 2]]) * gen)[:, None]
    hi = np.maximum(mem, cmp)
    safe = np.where(hi > 0, hi, 1.0)
    weights = np.where(hi > 0, hi * ((mem / safe) ** d.p + (cmp / safe) ** d.p) ** (1.0 / d.p), 0.0).sum(axis=1)
    kv = d.kv_bytes / (bw_eff * np.exp(theta[d.i_kv]))
    return weights + kv + d.nodes * np.exp(theta[d.i_node[:, 0]]) * gen


def residuals(theta: np.ndarray, d: Design) -> np.ndarray:
    """Weighted log errors of every row, then the priors' standardized deviations."""
    fit = d.weight * np.log(predict(d, theta) / d.t_meas)
    return np.concatenate([fit, (theta - d.prior_mean) / d.prior_sd])


def fit(d: Design, theta0: np.ndarray | None = None) -> np.ndarray:
    """Maximum a-posteriori log-parameters (scipy's trust-region least squares)."""
    from scipy.optimize import least_squares

    x0 = d.prior_mean.copy() if theta0 is None else theta0
    res = least_squares(residuals, x0, args=(d,), method="trf", x_scale=1.0, max_nfev=400)
    return res.x


def to_params(d: Design, theta: np.ndarray) -> dict:
    """{'mem': {...}, 'backends': {backend: {...}}} in speed_params.json's layout."""
    out: dict = {"mem": {}, "backends": {}}
    for name, v in zip(d.names, theta):
        val = float(math.exp(v))
        if name.startswith("mem:"):
            out["mem"][name[4:]] = val
            continue
        backend, term, *rest = name.split(":")
        b = out["backends"].setdefault(backend, {"rho_class": {}, "rho_type": {}, "rho_gen": {}, "node_gen": {}})
        if rest:
            b[term][rest[0]] = val
        else:
            b[term] = val
    return out
