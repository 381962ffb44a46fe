"""Leave-one-group-out accuracy of the decode model: the only accuracy tokbench states.

For each group (a machine, a model, or an architecture family) the decode terms are refitted
without that group's rows and its rows are predicted. Each prediction is labelled with what the
refit still knew about the held-out machine:

- ``chip``: the machine still has rows (holding out a model or an architecture);
- ``generation``: other machines of its generation (same backend) have rows;
- ``extrapolated``: no machine of its generation has rows.

The bands the planner prints are quantiles of these residuals per level (:func:`bands`), so a band
says how far off tokbench was on machines and models it had not seen.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

GROUPS = ("machine", "model", "arch")
# A machine's rows are its id's rows with one backend (llama.cpp on an M4 Max and MLX on it are
# two machines for this purpose: the MLX fit does not see llama.cpp's Metal rows).


@dataclass
class Prediction:
    """One held-out row's prediction."""

    group: str  # what was held out: "machine h100-sxm", "model qwen2.5-32b", "arch qwen3next"
    hardware_id: str
    model_id: str
    quant_id: str
    engine_id: str
    depth: int
    measured_tps: float
    predicted_tps: float
    level: str  # chip | generation | extrapolated
    arch_seen: bool  # the architecture had rows in the refit

    @property
    def log_error(self) -> float:
        """ln(predicted / measured)."""
        return math.log(self.predicted_tps / self.measured_tps)

    @property
    def error_pct(self) -> float:
        """Signed error of the prediction, in percent of the measurement."""
        return 100.0 * (self.predicted_tps / self.measured_tps - 1.0)


def group_key(row, by: str) -> str:
    """The group a row belongs to when holding out ``by`` (machine, model or arch)."""
    from tokbench.catalog.calibration import backend_key

    if by == "machine":
        return f"{row.hardware_id} ({backend_key(row.hw, row.engine_id)})"
    if by == "model":
        return row.model_id
    if by == "arch":
        return row.spec.arch
    raise ValueError(f"unknown holdout group {by!r}; choose from {', '.join(GROUPS)}")


def _level(row, train) -> str:
    from tokbench.catalog.calibration import backend_key

    b = backend_key(row.hw, row.engine_id)
    same = [r for r in train if backend_key(r.hw, r.engine_id) == b]
    if any(r.hardware_id == row.hardware_id for r in same):
        return "chip"
    gen = row.hw.generation or row.hw.id
    if any((r.hw.generation or r.hw.id) == gen for r in same):
        return "generation"
    return "extrapolated"


def leave_one_out(rows, by: str, p: float, min_rows_other: int = 1, only: str | None = None,
                  progress=None, params_out: dict | None = None) -> list[Prediction]:
    """Predictions of every row by a decode fit without its ``by`` group (``only``: just the groups whose
    key starts with it; ``progress(done, total, key)`` is called before each refit; ``params_out``, when
    given, receives each group's refit as a parameter document, for :func:`prefill_leave_one_out`)."""
    from tokbench.calibrate import decode_fit as df

    groups: dict[str, list] = defaultdict(list)
    for r in rows:
        groups[group_key(r, by)].append(r)
    if only is not None:
        groups = {k: v for k, v in groups.items() if k == only or k.startswith(only + " ")}
    full: dict = {}
    if len(groups) > 2:  # warm start: each refit begins at the full fit (one extra fit, many faster ones)
        d_full = df.design(rows, p)
        full = dict(zip(d_full.names, df.fit(d_full)))
    out = []
    for n_done, (key, held) in enumerate(sorted(groups.items())):
        if progress is not None:
            progress(n_done, len(groups), key)
        train = [r for r in rows if group_key(r, by) != key]
        if len(train) < min_rows_other:
            continue
        d_train = df.design(train, p)
        theta = df.fit(d_train, np.array([full.get(n, m) for n, m in zip(d_train.names, d_train.prior_mean)]))
        d_all = df.design(train + held, p)  # same layout for the train rows; held rows may add terms
        th = _with_refit(d_all.names, d_all.prior_mean, d_train.names, theta)
        if params_out is not None:
            params_out[key] = dict(df.to_params(d_train, theta), p=p)
        out += _predictions(f"{by} {key}", held, df.predict(d_all, th)[len(train):], train)
    return out


def _with_refit(names: list, prior_mean, fitted_names: list, theta) -> np.ndarray:
    """Log-parameters over ``names``: the refit's values where it has the term, the prior's elsewhere (a term
    only the held-out rows bring, such as a generation no other machine has)."""
    th = np.array(prior_mean, dtype=float)
    pos = {n: i for i, n in enumerate(names)}
    for n, v in zip(fitted_names, theta):
        th[pos[n]] = v
    return th


def _predictions(group: str, held, seconds, train) -> list[Prediction]:
    """The held-out rows' predictions from their predicted seconds per token."""
    archs = {r.spec.arch for r in train}
    return [Prediction(group=group, hardware_id=r.hardware_id, model_id=r.model_id, quant_id=r.quant_id,
                       engine_id=r.engine_id, depth=r.depth, measured_tps=r.tps, predicted_tps=1.0 / t,
                       level=_level(r, train), arch_seen=r.spec.arch in archs) for r, t in zip(held, seconds)]


def prefill_leave_one_out(rows, decode_doc: dict, decode_refits: dict | None = None,
                          only: str | None = None) -> list[Prediction]:
    """Predictions of every prefill row by a prefill fit without its machine's rows.

    The prefill terms (:mod:`.prefill_fit`) are refitted on the other machines' rows and the held-out
    rows predicted with them (a generation no other machine has takes factor 1, as the planner does).
    Their one decode term, the graph nodes' fixed cost, comes from ``decode_refits[key]``, the decode
    fit without that machine (:func:`leave_one_out`'s ``params_out``), or from ``decode_doc`` where the
    machine has no decode rows (so that fit never saw it). ``measured_tps`` / ``predicted_tps`` are
    prompt tokens per second. ``only``: just the machine whose key starts with it.
    """
    from tokbench.calibrate import prefill_fit as pf

    groups: dict[str, list] = defaultdict(list)
    for r in rows:
        groups[group_key(r, "machine")].append(r)
    if only is not None:
        groups = {k: v for k, v in groups.items() if k == only or k.startswith(only + " ")}
    out = []
    for key, held in sorted(groups.items()):
        train = [r for r in rows if group_key(r, "machine") != key]
        if not train:
            continue
        doc = dict(decode_doc)
        refit = (decode_refits or {}).get(key)
        if refit:  # the refit's decode terms; what the decode fit does not set (kappa, bands) as the full fit's
            doc["mem"] = refit["mem"]
            doc["backends"] = {b: {**decode_doc["backends"].get(b, {}), **v} for b, v in refit["backends"].items()}
        d_train = pf.design(train, doc)
        theta = pf.fit_theta(d_train)
        d_all = pf.design(train + held, doc)  # the train rows keep their layout; held rows may add terms
        th = _with_refit(d_all.names, [d_all.prior[n][0] for n in d_all.names], d_train.names, theta)
        out += _predictions(f"machine {key}", held, pf.predict(d_all, th)[len(train):], train)
    return out


def summary(preds: list[Prediction], bands: dict | None = None, bands_cpu: dict | None = None,
            cpu_ids: set | None = None) -> dict:
    """MAPE, bias and (with ``bands``) coverage, overall and per level and per group (rows of
    ``cpu_ids`` machines are checked against ``bands_cpu``)."""
    def stats(ps: list[Prediction]) -> dict:
        if not ps:
            return {"n": 0}
        errs = [p.error_pct for p in ps]
        out = {"n": len(ps), "mape_pct": sum(abs(e) for e in errs) / len(errs), "bias_pct": sum(errs) / len(errs),
               "worst_pct": max(errs, key=abs)}
        if bands:
            def band(p):
                return (bands_cpu if bands_cpu and cpu_ids and p.hardware_id in cpu_ids else bands)[p.level]
            inside = [band(p)[0] <= p.measured_tps / p.predicted_tps <= band(p)[1] for p in ps]
            out["inside_band_pct"] = 100.0 * sum(inside) / len(inside)
        return out

    by_level: dict[str, list] = defaultdict(list)
    by_group: dict[str, list] = defaultdict(list)
    for p in preds:
        by_level[p.level].append(p)
        by_group[p.group].append(p)
    return {"all": stats(preds), "by_level": {k: stats(v) for k, v in sorted(by_level.items())},
            "by_group": {k: stats(v) for k, v in sorted(by_group.items())}}


def bands(preds: list[Prediction], lo_q: float = 0.1, hi_q: float = 0.9, floor: float = 0.06) -> dict:
    """Per level: [low, high] multipliers of the estimate that held ``hi_q - lo_q`` of the held-out
    measurements (measured / predicted quantiles), never narrower than +-``floor``; a level with too
    few residuals takes the next wider level's band."""
    out = {}
    prev = None
    for level in ("extrapolated", "generation", "chip"):
        ratios = np.array([p.measured_tps / p.predicted_tps for p in preds if p.level == level])
        if len(ratios) >= 5:
            lo, hi = float(np.quantile(ratios, lo_q)), float(np.quantile(ratios, hi_q))
            out[level] = [min(lo, 1 - floor), max(hi, 1 + floor)]
        elif prev is not None:
            out[level] = list(prev)
        else:
            out[level] = [0.6, 1.5]
        prev = out[level]
    # Nested: knowing less never narrows the band (extrapolated contains generation contains chip).
    out["generation"] = [min(out["generation"][0], out["chip"][0]), max(out["generation"][1], out["chip"][1])]
    out["extrapolated"] = [min(out["extrapolated"][0], out["generation"][0]),
                           max(out["extrapolated"][1], out["generation"][1])]
    return out
