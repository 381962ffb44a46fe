"""Server and batched-decode terms of a machine calibration row (used by scripts/fit_calibration.py).

Fitted after the in-process terms, from the machine's llama-server rows with role "fit" only, in
three steps that each use the data that pins one term (see tokbench.plan.speed / plan.serving):

1. ``srv_seq`` + ``srv_vocab * vocab``: single-stream server rows minus the in-process step time
   (llama-bench on the same model); linear least squares, both >= 0. Two vocabularies are needed to
   tell the two apart (the synthetic 3B's 32000 and llama-3.1-8b's 128256).
2. ``eta_batch``: the weight-read efficiency of batched steps, from the server's inter-token gap
   (median ITL) at concurrency > 1, a pure decode step (other requests' prefill shows up as rare
   long gaps, not in the median); 1-D search on relative error.
3. ``srv_save_gbs``: the prompt-cache save rate of a reused slot, from per-stream tok/s of sweeps
   where slots are reused (requests > concurrency), simulated with plan.serving.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path


def sweep_rows(path: Path, prepared: list[dict]) -> list[dict]:
    """Rows of server_sweeps.csv with the spec/wb/hw of a prepared row of the same model x quant."""
    by_key = {(r["model_id"], r["quant_id"]): r for r in prepared if r["source"].startswith("measured here")}
    out = []
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            base = by_key.get((r["model_id"], r["quant_id"]))
            if base is None:
                continue
            out.append({**base, "role": r.get("role", ""), "concurrency": int(r["concurrency"]),
                        "prompt": int(r["context_depth"]), "depth": int(r["context_depth"]) + 64,
                        "tps": float(r["decode_tps_per_stream"]), "itl_s": float(r["itl_ms_p50"]) / 1e3,
                        "requests": int(r["requests"]), "metric": "sweep", "server": True})
    return out


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


def fit_server_terms(cal, single: list[dict], batched: list[dict], sweeps: list[dict], gen: int) -> dict:
    """{srv_seq_us, srv_vocab_ns, eta_batch, srv_save_gbs} from fit rows (see the module docstring)."""
    import numpy as np
    from dataclasses import replace

    from tokbench.plan.kv import kv_read_bytes
    from tokbench.plan.serving import sweep_per_stream
    from tokbench.plan.speed import prefill_seconds_per_token, step_time

    out: dict[str, float] = {}
    if single:
        resid = [1 / r["tps"] - step_time(r["spec"], r["wb"], r["hw"], cal, r["depth"])[0] for r in single]
        X = np.array([[1.0, r["spec"].vocab] for r in single])
        sol, *_ = np.linalg.lstsq(X, np.array(resid), rcond=None)
        if (sol < 0).any() or len({r["spec"].vocab for r in single}) < 2:  # one vocabulary: per-token constant only
            sol = np.array([max(float(np.mean(resid)), 0.0), 0.0])
        out["srv_seq_us"], out["srv_vocab_ns"] = float(sol[0]) * 1e6, float(sol[1]) * 1e9
        cal = replace(cal, srv_seq_s=float(sol[0]), srv_vocab_s=float(sol[1]))
    if batched:
        def err_batch(eta: float) -> float:
            c = replace(cal, eta_batch=eta)
            return sum(math.log(r["itl_s"] / step_time(r["spec"], r["wb"], r["hw"], c, r["depth"], "f16",
                                                         r["concurrency"], True)[0]) ** 2 for r in batched)
        out["eta_batch"] = _search(err_batch, 0.02, 1.0)
        cal = replace(cal, eta_batch=out["eta_batch"])
    reuse = [r for r in sweeps if r["requests"] > r["concurrency"] > 1]
    if reuse:
        def simulate(r: dict, bps: float) -> float:
            spec, wb, hw = r["spec"], r["wb"], r["hw"]
            pp = prefill_seconds_per_token(spec, wb, hw, cal, r["prompt"] / 2) or 0.0
            stall = kv_read_bytes(spec, r["prompt"] + gen) / bps
            return sweep_per_stream(lambda k: step_time(spec, wb, hw, cal, r["depth"], "f16", max(k, 1), True)[0],
                                    pp, r["concurrency"], r["prompt"], gen, r["requests"], stall)

        def err_save(log_gbs: float) -> float:
            return sum(math.log(r["tps"] / simulate(r, 10 ** log_gbs * 1e9)) ** 2 for r in reuse)
        out["srv_save_gbs"] = 10 ** _search(err_save, -2.0, 2.0)
    return out
