#!/usr/bin/env python
"""Fit the speed model's (eta, t0) per hardware family x engine from published measurements.

Reads src/tokbench/catalog/data/published_measurements.csv (normalized columns hardware_id,
model_id, quant_id, engine_id, metric, depth, concurrency) and writes
src/tokbench/catalog/data/calibration.csv. For each single-stream decode row the planner's own
bytes per token (exact weight bytes under the quant's per-tensor types + KV at the row's depth +
recurrent state) gives x = bytes / bandwidth; the model is t = x / eta + t0, fitted by least squares
on relative error (weights 1/t^2) with eta <= 1 and t0 >= 0. The band is the range of the fit's
log residuals widened by 10% each side. Prefill efficiency is the median of measured prefill FLOP
rates over the chip's FP16 peak.

Rows whose role column is "holdout" are left out of the fit: `tokbench validate` checks the fit on them.
A hardware id with at least MIN_HW_ROWS decode rows also gets a row of its own.

Usage: python scripts/fit_calibration.py [--check]   (--check: print the fit, write nothing)
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "src" / "tokbench" / "catalog" / "data"
FIELDS = ["family", "engine", "eta", "t0_ms", "band_low", "band_high", "prefill_eff", "n_decode", "n_prefill",
          "rms_log_resid", "basis"]
MIN_BAND = 0.10  # never claim a band narrower than +-10%
MIN_HW_ROWS = 6  # decode rows one machine needs for a calibration row of its own


def load_spec_any(model_id: str):
    """Catalog model, or one of the calibration-only models."""
    from tokbench.catalog.calibration import CALIBRATION_MODELS
    from tokbench.spec import load_spec
    from tokbench.spec.hf_config import spec_from_config

    if model_id in CALIBRATION_MODELS:
        return spec_from_config(CALIBRATION_MODELS[model_id], name=model_id, source="calibration model")
    return load_spec(model_id)


def prepare(rows: list[dict]) -> tuple[list[dict], list[str]]:
    """Attach hardware, spec, weight bytes and family to each row; returns (usable rows, skip reasons)."""
    from tokbench.catalog.calibration import family
    from tokbench.catalog.hardware import get_hardware
    from tokbench.plan.memory import weight_bytes

    out, skipped = [], []
    cache: dict[tuple[str, str], tuple] = {}
    for r in rows:
        key = (r["model_id"], r["quant_id"])
        try:
            if key not in cache:
                spec = load_spec_any(r["model_id"])
                cache[key] = (spec, weight_bytes(spec, r["quant_id"]))
            spec, wb = cache[key]
            hw = get_hardware(r["hardware_id"])
        except Exception as exc:  # noqa: BLE001 - report and go on: a row we cannot model yet
            skipped.append(f"{r['hardware_id']} {r['model_id']} {r['quant_id']} {r['test']}: {exc}")
            continue
        out.append({**r, "spec": spec, "wb": wb, "hw": hw, "family": family(hw), "tps": float(r["tokens_per_s"]),
                    "depth": int(r["depth"]), "concurrency": int(r["concurrency"])})
    return out, skipped


def fit_eta_t0(xs: list[float], ts: list[float]) -> tuple[float, float]:
    """Least squares of t = a*x + t0 on relative error, a >= 1 (eta = 1/a <= 1), t0 >= 0."""
    w = [1 / t**2 for t in ts]
    sw = sum(w)
    sx = sum(wi * x for wi, x in zip(w, xs))
    st = sum(wi * t for wi, t in zip(w, ts))
    sxx = sum(wi * x * x for wi, x in zip(w, xs))
    sxt = sum(wi * x * t for wi, x, t in zip(w, xs, ts))
    det = sw * sxx - sx * sx
    if len(set(round(x, 12) for x in xs)) < 2 or abs(det) < 1e-30:
        a, t0 = None, None
    else:
        a = (sw * sxt - sx * st) / det
        t0 = (st - a * sx) / sw
    if a is None or t0 < 0 or a < 1:
        # Constrained: fix t0 at 0 (or a at 1) and fit the other in closed form.
        a0 = max(sxt / sxx, 1.0)  # t0 = 0
        t0_a1 = max((st - sx) / sw, 0.0)  # a = 1
        cand = [(a0, 0.0), (1.0, t0_a1)]
        a, t0 = min(cand, key=lambda c: sum(wi * (c[0] * x + c[1] - t) ** 2 for wi, x, t in zip(w, xs, ts)))
    return 1 / a, t0


def _decode_x(row) -> float:
    from tokbench.plan.speed import step_bytes

    return step_bytes(row["spec"], row["wb"], row["depth"], "f16", 1).total / row["hw"].bandwidth_bytes


def fit(rows: list[dict]) -> list[dict]:
    """One calibration row per (family, engine) that has single-stream decode measurements."""
    from tokbench.plan.speed import flops_per_token

    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    per_hw: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["family"], r["engine_id"])].append(r)
        per_hw[(r["hardware_id"], r["engine_id"])].append(r)
    # A machine with enough decode rows of its own gets its own row (looked up before its family's):
    # one H100 is not an RTX 3090, and the campaign measured it directly.
    for key, grp in per_hw.items():
        if sum(1 for r in grp if r["metric"] == "decode" and r["concurrency"] == 1) >= MIN_HW_ROWS:
            groups[key] = grp
    out = []
    for (fam, eng), grp in sorted(groups.items()):
        dec = [r for r in grp if r["metric"] in ("decode", "per_stream") and r["concurrency"] == 1]
        if not dec:
            continue
        xs, ts = [_decode_x(r) for r in dec], [1 / r["tps"] for r in dec]
        eta, t0 = fit_eta_t0(xs, ts)
        res = [math.log(r["tps"] * (x / eta + t0)) for r, x in zip(dec, xs)]
        pre = [r["tps"] * flops_per_token(r["spec"], r["depth"]) / (r["hw"].fp16_tflops * 1e12)
               for r in grp if r["metric"] == "prefill" and r["hw"].fp16_tflops]
        from tokbench.catalog.calibration import DEFAULTS

        eff = statistics.median(pre) if pre else DEFAULTS[fam].prefill_eff
        models = sorted({r["model_id"] for r in dec})
        out.append({
            "family": fam, "engine": eng, "eta": f"{eta:.4f}", "t0_ms": f"{t0 * 1000:.3f}",
            "band_low": f"{math.exp(min(min(res), 0) - MIN_BAND):.3f}",
            "band_high": f"{math.exp(max(max(res), 0) + MIN_BAND):.3f}",
            "prefill_eff": f"{eff:.4f}", "n_decode": len(dec), "n_prefill": len(pre),
            "rms_log_resid": f"{math.sqrt(sum(x * x for x in res) / len(res)):.4f}",
            "basis": f"fit of {len(dec)} decode rows ({', '.join(models)}) on "
                     f"{', '.join(sorted({r['hardware_id'] for r in dec}))}; published_measurements.csv",
        })
    return out


def main(argv: list[str] | None = None) -> int:
    """Fit and write (or, with --check, print) the calibration table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="print the fit; write nothing")
    args = ap.parse_args(argv)
    with (DATA / "published_measurements.csv").open(newline="") as fh:
        raw = list(csv.DictReader(fh))
    # Held-out rows check the fit (tokbench validate); they never enter it.
    rows, skipped = prepare([r for r in raw if r.get("role") != "holdout"])
    table = fit(rows)
    for s in skipped:
        print(f"skipped: {s}", file=sys.stderr)
    for t in table:
        print(f"{t['family']:15} {t['engine']:10} eta={t['eta']} t0={t['t0_ms']} ms band=[{t['band_low']}, "
              f"{t['band_high']}] prefill_eff={t['prefill_eff']} n={t['n_decode']}/{t['n_prefill']} rms={t['rms_log_resid']}")
    if not args.check:
        with (DATA / "calibration.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
            w.writeheader()
            w.writerows(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
