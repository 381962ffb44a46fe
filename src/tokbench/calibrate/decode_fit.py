"""Fit the single-stream decode terms of the speed model across machines (vectorized, numpy + scipy).

The model is :mod:`tokbench.plan.speed`'s, written here once more over arrays of rows so a fit takes
a fraction of a second (the leave-one-group-out checks refit it dozens of times); a test checks
that both give the same seconds for every row. Parameters live in log space and each carries a
prior (a Gaussian in log space), so that a term the rows cannot pin stays at a stated typical value
instead of running off: a chip generation's factor defaults to 1, a storage type's to its class.

Unknowns (see :mod:`tokbench.catalog.calibration` for their meaning):
``mem[group]``, and per backend: ``rho_class[class]``, ``rho_type[type]`` (CPUs: also
``rho_type[generation/type]``), ``rho_gen[generation]``,
``node_s``, ``node_gen[generation]`` (also scales ``row_s``), ``row_s[class]`` (seconds per weight of a row; on CPUs
cycles), ``eta_kv``, ``rho_att`` (flash attention) and on accelerators ``rho_att_nofa`` (rows run without it);
on CPUs ``bw_core``, ``att_row``, and ``bw_probe`` (probed hosts) and ``cache_frac`` (weights resident in the
last-level cache), ``state_c`` (Gated DeltaNet state); for rows measured with older llama.cpp builds
``era_rho[era]`` and ``era_node[era]`` (the planner predicts current builds, whose factor is 1).
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
# CPUs: a storage type's factor is the product of a part shared by every instruction set (how much
# unpacking its blocks need) and a part of the instruction set's own kernels (AVX2, AVX-512, NEON
# write each type differently). Held out, an ISA's only machine keeps the shared part. The widths were
# chosen by leave-one-machine-out error over the CPU rows (192 then: 26.2% against 27.5% with one factor per ISA).
PRIOR_CPU_TYPE = (0.0, 0.3)
PRIOR_CPU_ISA_TYPE = (0.0, 0.6)
PRIOR_RHO_GEN = (0.0, 0.5)
PRIOR_NODE = (math.log(2e-6), 2.5)
PRIOR_NODE_GEN = (0.0, 0.5)
PRIOR_ROW = (math.log(2e-9), 2.5)  # a matrix kernel's last wave: seconds per weight of one row
PRIOR_ETA_KV = (math.log(0.7), 0.4)
# An older llama.cpp build's kernels relative to current ones. Loose on accelerators: many machines there
# have rows of several builds (an M2 Ultra: 2024, current and unknown), which pin the factors (LOMO over
# the 511 accelerator rows 8.8% at 2.0 against 9.9% at 0.5).
PRIOR_ERA = (0.0, 2.0)
PRIOR_ERA_MEM = (0.0, 0.2)
# CPUs: one factor per build era and storage type, pinned by the same CPUs run on three builds
# (data/cpu_host/build_era.csv: this project's AVX2 VM and the lent AVX-512 Xeon). Leave-one-machine-out
# over the 386 CPU rows hardly moves with the width: 31.8% at 0.15, 31.5% at 0.3, 31.4% at 0.45, 31.6% with
# one factor per kernel class at 0.1 (the old choice, made when no machine had rows of two builds and a
# wide factor took up machine differences). A factor per instruction set as well: 31.9%.
PRIOR_ERA_CPU = (0.0, 0.3)
PRIOR_ROW_CPU = (math.log(5.0), 2.5)  # CPUs: cycles per weight of one row (row_s counts cycles there)
PRIOR_RHO_ATT = (math.log(64.0), 2.5)  # attention FLOPs per unit per cycle
PRIOR_BW_CORE = (math.log(20e9), 0.7)  # CPUs: bytes/s one core streams
# Probed CPU hosts: one llama.cpp thread's stream per byte/s of the probe's one-core numpy read.
PRIOR_BW_PROBE = (0.0, 0.3)
# Cache-resident weights: read time against the same bytes from memory. The rows hardly pin it (the
# resident rows are held by their kernels once the memory streams no longer cap them): it stays near
# its prior, the cache at 5x the memory's bandwidth.
PRIOR_CACHE = (math.log(0.2), 1.0)
PRIOR_ATT_ROW = (math.log(100.0), 2.5)  # CPUs: cycles of decode attention per KV head x cached token
PRIOR_STATE_C = (math.log(0.05), 3.0)  # CPUs: core cycles per byte of Gated DeltaNet state updated
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
    att_flops: np.ndarray  # (rows,)
    att_rows: np.ndarray  # (rows,) KV head x cached token pairs (CPU rows' per-row attention term)
    nodes: np.ndarray  # graph nodes that are not matrix kernels
    bw: np.ndarray
    rate: np.ndarray
    t_meas: np.ndarray
    weight: np.ndarray
    i_mem: np.ndarray  # (rows,) parameter index of each row's memory group
    i_rho: np.ndarray  # (rows, types, 5) class, type, generation, build-era and CPU ISA-type terms (-1: none)
    i_node: np.ndarray  # (rows, 4) node base, node generation, (unused) and node build-era indices
    i_row: np.ndarray  # (rows, types) row-tail index of each type's kernel class (-1: none)
    i_kv: np.ndarray  # (rows,)
    i_att: np.ndarray  # (rows,)
    i_gen: np.ndarray  # (rows,) the row's rho_gen index
    i_bwc: np.ndarray  # (rows,) CPU rows: the bw_core index (-1: not a CPU)
    i_arow: np.ndarray  # (rows,) CPU rows: the att_row index (-1: not a CPU)
    cores: np.ndarray  # (rows,) CPU cores used (0: not a CPU)
    i_era_mem: np.ndarray  # (rows,) -1: current build
    p: float
    core_bw: np.ndarray | None = None  # (rows,) probed CPU hosts: the probe's one-core read, bytes/s (0: none)
    i_bwp: np.ndarray | None = None  # (rows,) the bw_probe index (-1: the row's cores stream bw_core, or resident)
    i_cache: np.ndarray | None = None  # (rows,) the cache_frac index of rows whose weights are cache-resident (-1: none)
    state_cyc: np.ndarray | None = None  # (rows,) CPU rows: Gated DeltaNet state bytes x seconds per core cycle
    i_state: np.ndarray | None = None  # (rows,) the state_c index (-1: none)


def _index(names: list[str], prior: dict, name: str, mean_sd: tuple[float, float]) -> int:
    if name not in prior:
        prior[name] = mean_sd
        names.append(name)
    return names.index(name)


def design(rows, p: float) -> Design:
    """Arrays and parameter layout for single-stream decode ``rows`` (attached calibrate.rows.Row)."""
    from tokbench.catalog.calibration import backend_key
    from tokbench.plan.memory import expert_fraction
    from tokbench.plan.speed import (attention_flops, attention_rows, cache_resident, delta_net_update_bytes, roof_rate,
                                     row_unit, step_bytes)

    types = sorted({t for r in rows for t in r.work.types})
    names: list[str] = []
    prior: dict[str, tuple[float, float]] = {}
    R, T = len(rows), len(types)
    mem_b, work, row_sum = np.zeros((R, T)), np.zeros((R, T)), np.zeros((R, T))
    i_rho = -np.ones((R, T, 5), dtype=int)
    i_row = -np.ones((R, T), dtype=int)
    i_mem, i_kv, i_att = np.zeros(R, dtype=int), np.zeros(R, dtype=int), np.zeros(R, dtype=int)
    i_era_mem = -np.ones(R, dtype=int)
    i_gen = np.zeros(R, dtype=int)
    i_bwc = -np.ones(R, dtype=int)
    i_arow = -np.ones(R, dtype=int)
    arows = np.zeros(R)
    cores = np.zeros(R)
    core_bw = np.zeros(R)
    i_bwp = -np.ones(R, dtype=int)
    i_cache = -np.ones(R, dtype=int)
    state_cyc = np.zeros(R)
    i_state = -np.ones(R, dtype=int)
    i_node = -np.ones((R, 4), dtype=int)
    kv, att, nodes, bw, rate, t = (np.zeros(R) for _ in range(6))
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
            row_sum[i, j] = w.row_sum * row_unit(r.hw)
            i_rho[i, j, 0] = _index(names, prior, f"{b}:rho_class:{kernel_class(ty)}", PRIOR_RHO_CLASS)
            if r.hw.kind == "cpu":  # CPU kernels are written per instruction set (AVX2, AVX-512, NEON)
                i_rho[i, j, 1] = _index(names, prior, f"{b}:rho_type:{ty}", PRIOR_CPU_TYPE)
                i_rho[i, j, 4] = _index(names, prior, f"{b}:rho_type:{gen}/{ty}", PRIOR_CPU_ISA_TYPE)
            else:
                i_rho[i, j, 1] = _index(names, prior, f"{b}:rho_type:{ty}", PRIOR_RHO_TYPE)
            i_rho[i, j, 2] = _index(names, prior, f"{b}:rho_gen:{gen}", PRIOR_RHO_GEN)
            i_row[i, j] = _index(names, prior, f"{b}:row_s:{kernel_class(ty)}",
                                 PRIOR_ROW_CPU if r.hw.kind == "cpu" else PRIOR_ROW)
            if r.era != "current":  # the planner predicts current builds: their era factor is 1
                # CPUs: per storage type (the same CPU ran Q4_0 1.6x faster on a 2026 build than on a 2024 one,
                # Q4_K_M alike, Q6_K 1.2x slower: data/cpu_host/build_era.md); accelerators: per kernel class
                # (2024 F16 decode went through a generic kernel at ~half the bandwidth a current build reaches)
                era_key = ty if r.hw.kind == "cpu" else kernel_class(ty)
                i_rho[i, j, 3] = _index(names, prior, f"{b}:era_rho:{r.era}/{era_key}",
                                        PRIOR_ERA_CPU if r.hw.kind == "cpu" else PRIOR_ERA)
        sb = step_bytes(r.spec, r.work, r.depth, "f16", 1)
        kv[i] = sb.kv + sb.state
        att[i] = attention_flops(r.spec, r.depth)
        # Decode attention without flash attention (llama-bench's default before "auto") runs as separate
        # KQ, softmax and KQV kernels with the scores written out: a throughput of its own on accelerators
        # (CPUs price attention per cached token, att_row). The planner predicts today's default, on.
        nofa = r.hw.kind != "cpu" and not r.flash_attn
        i_att[i] = _index(names, prior, f"{b}:rho_att_nofa" if nofa else f"{b}:rho_att", PRIOR_RHO_ATT)
        i_gen[i] = _index(names, prior, f"{b}:rho_gen:{gen}", PRIOR_RHO_GEN)
        if r.hw.kind == "cpu" and r.hw.compute_units:
            i_bwc[i] = _index(names, prior, f"{b}:bw_core", PRIOR_BW_CORE)
            cores[i] = r.hw.compute_units
            if cache_resident(r.hw, mem_b[i].sum()):  # as plan.speed: no per-core cap, the cache's share of the bytes
                i_cache[i] = _index(names, prior, f"{b}:cache_frac", PRIOR_CACHE)
            elif r.hw.core_bandwidth_gbs:
                i_bwp[i] = _index(names, prior, f"{b}:bw_probe", PRIOR_BW_PROBE)
                core_bw[i] = r.hw.core_bandwidth_gbs * 1e9
        if r.hw.kind == "cpu":
            i_arow[i] = _index(names, prior, f"{b}:att_row", PRIOR_ATT_ROW)
            arows[i] = attention_rows(r.spec, r.depth)
            state = delta_net_update_bytes(r.spec)
            if state:
                i_state[i] = _index(names, prior, f"{b}:state_c", PRIOR_STATE_C)
                state_cyc[i] = state * row_unit(r.hw)
        if r.era != "current":
            i_era_mem[i] = _index(names, prior, f"{b}:era_mem:{r.era}", PRIOR_ERA_MEM)
        nodes[i] = r.work.nodes - r.work.matmul_nodes  # matrix kernels pay mm_s inside their roof
        bw[i] = r.hw.bandwidth_bytes
        rate[i] = roof_rate(r.hw)
        t[i] = 1.0 / r.tps
        i_mem[i] = _index(names, prior, f"mem:{r.hw.memory_group}", PRIOR_MEM)
        i_node[i, 0] = _index(names, prior, f"{b}:node_s", PRIOR_NODE)
        i_node[i, 1] = _index(names, prior, f"{b}:node_gen:{gen}", PRIOR_NODE_GEN)
        if r.era != "current":
            i_node[i, 3] = _index(names, prior, f"{b}:era_node:{r.era}", PRIOR_ERA)
        i_kv[i] = _index(names, prior, f"{b}:eta_kv", PRIOR_ETA_KV)
    weight = np.array([1.0 / (ROW_SD * math.sqrt(per_machine[r.hardware_id])) for r in rows])
    pm = np.array([prior[n][0] for n in names])
    ps = np.array([prior[n][1] for n in names])
    return Design(names, pm, ps, mem_b, work, row_sum, kv, att, arows, nodes, bw, rate, t, weight, i_mem, i_rho, i_node,
                  i_row, i_kv, i_att, i_gen, i_bwc, i_arow, cores, i_era_mem, p, core_bw, i_bwp, i_cache, state_cyc, i_state)


def _smax(a: np.ndarray, b: np.ndarray, p: float) -> np.ndarray:
    hi = np.maximum(a, b)
    safe = np.where(hi > 0, hi, 1.0)
    return np.where(hi > 0, hi * ((a / safe) ** p + (b / safe) ** p) ** (1.0 / p), 0.0)


def predict(d: Design, theta: np.ndarray) -> np.ndarray:
    """Seconds per token of every row under log-parameters ``theta``."""
    era_mem = np.where(d.i_era_mem >= 0, theta[np.maximum(d.i_era_mem, 0)], 0.0)
    eta = np.exp(theta[d.i_mem] + era_mem)
    cap = np.where(d.i_bwc >= 0, d.cores * np.exp(theta[np.maximum(d.i_bwc, 0)]), np.inf)
    cap = np.where(d.i_bwp >= 0, d.cores * d.core_bw * np.exp(theta[np.maximum(d.i_bwp, 0)]), cap)
    resident = d.i_cache >= 0
    cap = np.where(resident, np.inf, cap)
    bw_eff = eta * np.minimum(d.bw, cap)
    share = np.where(resident, np.exp(theta[np.maximum(d.i_cache, 0)]), 1.0)
    logrho = np.where(d.i_rho >= 0, theta[np.maximum(d.i_rho, 0)], 0.0).sum(axis=2)
    gen = np.exp(theta[d.i_node[:, 1]] + np.where(d.i_node[:, 3] >= 0, theta[np.maximum(d.i_node[:, 3], 0)], 0.0))
    mem = d.mem_bytes * share[:, None] / bw_eff[:, None]
    row_s = np.where(d.i_row >= 0, np.exp(theta[np.maximum(d.i_row, 0)]), 0.0)
    cmp = d.work / (np.exp(logrho) * d.rate[:, None]) + d.row_sum * row_s * gen[:, None]
    weights = _smax(mem, cmp, d.p).sum(axis=1)
    att = d.att_flops / (np.exp(theta[d.i_att] + theta[d.i_gen]) * d.rate)
    kv = _smax(d.kv_bytes / (bw_eff * np.exp(theta[d.i_kv])), att, d.p)
    kv = kv + np.where(d.i_arow >= 0, d.att_rows * np.exp(theta[np.maximum(d.i_arow, 0)]) / d.rate, 0.0)
    kv = kv + np.where(d.i_state >= 0, d.state_cyc * np.exp(theta[np.maximum(d.i_state, 0)]), 0.0)
    return weights + kv + d.nodes * np.exp(theta[d.i_node[:, 0]]) * gen


def residuals(theta: np.ndarray, d: Design) -> np.ndarray:
    """Weighted log errors of every row, then the priors' standardized deviations."""
    fit = d.weight * np.log(predict(d, theta) / d.t_meas)
    return np.concatenate([fit, (theta - d.prior_mean) / d.prior_sd])


def sparsity(d: Design):
    """Which parameters each residual depends on (rows, then one prior per parameter): lets scipy
    estimate the Jacobian with a few grouped evaluations instead of one per parameter."""
    from scipy.sparse import lil_matrix

    R, P = len(d.t_meas), len(d.names)
    S = lil_matrix((R + P, P), dtype=int)
    for i in range(R):
        cols = {int(d.i_mem[i]), int(d.i_kv[i]), int(d.i_att[i]), int(d.i_gen[i]), *(int(c) for c in d.i_rho[i].ravel() if c >= 0),
                *([int(d.i_era_mem[i])] if d.i_era_mem[i] >= 0 else []),
                *([int(d.i_bwc[i])] if d.i_bwc[i] >= 0 else []),
                *([int(d.i_bwp[i])] if d.i_bwp[i] >= 0 else []),
                *([int(d.i_cache[i])] if d.i_cache[i] >= 0 else []),
                *([int(d.i_state[i])] if d.i_state[i] >= 0 else []),
                *([int(d.i_arow[i])] if d.i_arow[i] >= 0 else []),
                *(int(c) for c in d.i_node[i] if c >= 0), *(int(c) for c in d.i_row[i] if c >= 0)}
        for c in cols:
            S[i, c] = 1
    for j in range(P):
        S[R + j, j] = 1
    return S


def fit(d: Design, theta0: np.ndarray | None = None) -> np.ndarray:
    """Maximum a-posteriori log-parameters (scipy's trust-region least squares, sparse Jacobian)."""
    from scipy.optimize import least_squares

    # A streaming kernel never beats the nominal bandwidth: mem <= 1 (log <= 0); the rest is free.
    hi = np.array([0.0 if n.startswith("mem:") or ":era_mem:" in n else np.inf for n in d.names])
    lo = np.full(len(d.names), -np.inf)
    x0 = np.minimum(d.prior_mean.copy() if theta0 is None else theta0, hi - 1e-9)
    res = least_squares(residuals, x0, args=(d,), method="trf", x_scale=1.0, max_nfev=400, bounds=(lo, hi),
                        jac_sparsity=sparsity(d), tr_solver="lsmr")
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
        b = out["backends"].setdefault(backend, {"rho_class": {}, "rho_type": {}, "rho_gen": {}, "node_gen": {},
                                                 "era_rho": {}, "era_node": {}, "era_mem": {}, "row_s": {}})
        if rest:
            b[term][rest[0]] = val
        else:
            b[term] = val
    return out
