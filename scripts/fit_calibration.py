#!/usr/bin/env python
"""Fit the planner's speed model per hardware x engine from measurements; write calibration.csv.

Reads src/tokbench/catalog/data/published_measurements.csv (normalized columns hardware_id, model_id,
quant_id, engine_id, metric, depth, concurrency, role) and writes src/tokbench/catalog/data/calibration.csv.
The model is tokbench.plan.speed's (see its docstring); this script only finds its parameters.

Two kinds of rows:

- **Machine rows** (a hardware id with >= MIN_HW_ROWS single-stream decode rows measured here, i.e.
  one card and one llama.cpp build; looked up before the family's row): every term is fitted by
  non-negative least squares on relative error (weights 1/t^2), only where the fit rows carry it:
  per kernel-class bandwidth efficiency (float, block, kquant, table), KV-read efficiency (rows at
  two depths), a fixed time per matrix kernel, per routed-expert kernel (MoE rows), per
  linear-attention layer (hybrid rows), t0. Prefill: per-kind compute efficiency (float, quantized,
  routed-expert matmuls, attention). The band is the range of leave-one-model-out residuals.
- **Family rows** (apple, nvidia, nvidia-unified; published scoreboards of one or a few models):
  the one-factor model t = bytes / (eta * bw) + t0 (eta <= 1, t0 >= 0), prefill efficiency = median
  of measured FLOP rates over the FP16 peak, band = fit residual range widened by 10%. Rows of a
  hardware id that has a machine row are left out of its family's fit (they describe that card).

Concurrency: per extra sequence, 2 x active weights / (decode_batch_eff x FP16 peak): the
dequantize-and-dot work that one stream hides under the memory stream. Fitted from dense batched
rows not held out (MoE batched rows are left out: llama-batched-bench feeds identical sequences, so
they route to the same experts and say nothing about distinct experts touched).

Split (issue 8: the H100 x llama.cpp calibration is fitted on part of the campaign, checked on the
rest). Chosen so that every kernel class and kernel kind a held-out row uses is in the fit, and the
held-out rows test generalization in size, quant and architecture:

- fit: llama-3.1-8b F16 / Q8_0 / Q4_K_M (one model, three kernel classes: separates class
  efficiency from fixed costs), qwen2.5-14b and llama-3.3-70b Q4_K_M (sizes: the fixed per-matrix
  cost against bytes), qwen3-30b-a3b Q4_K_M (MoE: the per-expert-kernel cost), gpt-oss-120b
  MXFP4_MOE (the only model with the lookup-table MXFP4 kernels), plus the earlier synthetic 3B rows.
- holdout: qwen2.5-7b Q4_K_M (a size below every fitted Qwen2), qwen2.5-32b Q4_K_M (between
  fitted sizes), qwen3-30b-a3b Q8_0 (the MoE at a quant its fit did not see), qwen3-next-80b-a3b
  Q4_K_M (hybrid Gated DeltaNet + MoE: no linear-attention layer in the fit, so c_lin stays 0).
An earlier split (qwen3-30b-a3b as the only fitted MoE, gpt-oss held out) left MXFP4 without data;
gpt-oss was then estimated +43..50% (reported in data/h100_campaign/README.md).

Usage: python scripts/fit_calibration.py [--check] [--write-roles]
  --check: print the fit, write nothing; --write-roles: write the split's role column into
  published_measurements.csv and data/h100_campaign/llama_bench.csv (keeps both in sync).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "src" / "tokbench" / "catalog" / "data"
CAMPAIGN = ROOT / "data" / "h100_campaign" / "llama_bench.csv"
FIELDS = ["family", "engine", "eta", "t0_ms", "band_low", "band_high", "prefill_eff", "n_decode", "n_prefill",
          "rms_log_resid", "eta_float", "eta_block", "eta_kquant", "eta_table", "eta_kv", "c_mat_us", "c_id_us",
          "c_lin_us", "decode_batch_eff", "prefill_eff_quant", "prefill_eff_moe", "prefill_eff_attn", "eta_batch",
          "srv_seq_us", "srv_vocab_ns", "srv_save_gbs", "basis"]
MIN_BAND = 0.10  # never claim a band narrower than +-10% (family rows)
CV_MARGIN = 0.05  # machine rows: leave-one-model-out residual range widened by 5%
MIN_HW_ROWS = 6  # decode rows one machine needs for a calibration row of its own
CLASSES = ("float", "block", "kquant", "table")
# The H100 campaign split (see the module docstring): (model_id, quant_id) held out.
H100_HOLDOUT = {("qwen2.5-7b", "Q4_K_M"), ("qwen2.5-32b", "Q4_K_M"), ("qwen3-30b-a3b", "Q8_0"),
                ("qwen3-next-80b-a3b", "Q4_K_M")}
CAMPAIGN_SOURCE = "measured here: H100 campaign"
# llama-server rows (engine text names llama-server) are a split of their own: the server and batched
# decode terms are fitted on llama-3.1-8b's sweep (and the earlier synthetic 3B server rows) only; the
# MoE sweeps are held out (their llama-bench rows stay fit rows: the kernels are known, the server
# and concurrency model is what they test).
SERVER_HOLDOUT = {("qwen3-30b-a3b", "Q4_K_M"), ("gpt-oss-120b", "MXFP4_MOE")}
SWEEPS = ROOT / "data" / "h100_campaign" / "server_sweeps.csv"
SWEEP_GEN, SWEEP_REQUESTS = 128, 16  # the campaign's sweep: 128 generated tokens, 16 requests per point


def load_spec_any(model_id: str):
    """Catalog model, or one of the calibration-only models."""
    from tokbench.report.reference import model_spec

    return model_spec(model_id)


def prepare(rows: list[dict]) -> tuple[list[dict], list[str]]:
    """Attach hardware, spec, weight bytes and family to each row; returns (usable rows, skip reasons)."""
    from tokbench.catalog.calibration import family
    from tokbench.catalog.hardware import get_hardware
    from tokbench.plan.memory import weight_bytes

    out, skipped = [], []
    cache: dict[tuple[str, str], tuple] = {}
    last_source = ""
    for r in rows:
        # "same" (or "same; ...") repeats the previous row's source, as tokbench.report.reference reads it.
        src = r["source"].strip()
        r = {**r, "source": last_source + src[4:] if src.startswith("same") and last_source else src}
        last_source = r["source"] if not src.startswith("same") else last_source
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
        out.append({**r, "server": is_server(r), "spec": spec, "wb": wb, "hw": hw, "family": family(hw), "tps": float(r["tokens_per_s"]),
                    "depth": int(r["depth"]), "concurrency": int(r["concurrency"])})
    return out, skipped


def is_server(r: dict) -> bool:
    """A row measured through llama-server (HTTP), not llama-bench / in process."""
    return "llama-server" in r.get("engine", "")


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


def nnls(cols: list[list[float]], ys: list[float], lower: list[float] | None = None) -> list[float]:
    """Least squares of y ~ sum_j p_j * col_j on relative error with p_j >= lower_j (default 0).

    Few columns (<= 10), so trying every active set is exact and fast; returns one coefficient per column.
    """
    import numpy as np

    lo = np.array(lower if lower is not None else [0.0] * len(cols))
    X = np.array(cols, dtype=float).T / np.array(ys)[:, None]
    y = np.ones(len(ys)) - X @ lo  # p = lo + q, q >= 0
    best, best_sse = np.zeros(len(cols)), float("inf")
    for k in range(len(cols), -1, -1):
        for subset in itertools.combinations(range(len(cols)), k):
            q = np.zeros(len(cols))
            if subset:
                sol, *_ = np.linalg.lstsq(X[:, subset], y, rcond=None)
                if (sol < 0).any():
                    continue
                q[list(subset)] = sol
            sse = float(((X @ q - y) ** 2).sum())
            if sse < best_sse - 1e-15:
                best, best_sse = q, sse
    return [float(v) for v in lo + best]


# Machine rows ------------------------------------------------------------------------------------

def decode_features(r: dict) -> dict[str, float]:
    """Seconds-per-unit features of one single-stream decode row: t = sum(feature * coefficient)."""
    from tokbench.plan.speed import step_bytes

    wb, spec, bw = r["wb"], r["spec"], r["hw"].bandwidth_bytes
    frac = spec.n_experts_used / spec.n_experts if spec.n_experts else 1.0
    f = {f"a_{c}": (wb.dense_by_class.get(c, 0) + frac * wb.experts_by_class.get(c, 0)) / bw for c in CLASSES}
    sb = step_bytes(spec, wb, r["depth"], "f16", 1)
    f["a_kv"] = (sb.kv + sb.state) / bw
    f["c_mat"] = wb.n_mat
    f["c_id"] = wb.n_mat_id
    f["c_lin"] = sum(1 for k in spec.kinds if k == "linear")
    f["t0"] = 1.0
    return f


def prefill_features(r: dict) -> dict[str, float]:
    """FLOPs / peak of one prefill row by kind (depth column = mean depth of the prompt's tokens)."""
    from tokbench.plan.speed import prefill_flops

    peak = r["hw"].fp16_tflops * 1e12
    return {f"p_{k}": v / peak for k, v in prefill_flops(r["spec"], r["wb"], r["depth"]).items()}


def _used(rows: list[dict], feats: list[dict]) -> list[str]:
    """Features some fit row carries (a term without data is not fitted: its default stays)."""
    names = [k for k in feats[0] if any(f[k] for f in feats)]
    if len({(r["model_id"], r["quant_id"], r["depth"]) for r in rows}) == len({(r["model_id"], r["quant_id"]) for r in rows}):
        names = [k for k in names if k != "a_kv"]  # one depth per model: KV cannot be told from weights
    return names


def fit_terms(rows: list[dict], featfn) -> tuple[dict[str, float], list[str]]:
    """NNLS of 1/tps on the features ``featfn`` gives; returns (coefficients, fitted names)."""
    feats = [featfn(r) for r in rows]
    names = _used(rows, feats)
    # Bandwidth terms: 1/eta >= 1 (no kernel streams faster than the memory); the rest >= 0.
    lower = [1.0 if k.startswith("a_") else 0.0 for k in names]
    p = nnls([[f[k] for f in feats] for k in names], [1 / r["tps"] for r in rows], lower)
    return dict(zip(names, p)), names


def predict(coef: dict[str, float], f: dict[str, float]) -> float:
    """tok/s the coefficients give for one row's features."""
    return 1 / sum(coef.get(k, 0.0) * v for k, v in f.items())


def lomo_residuals(rows: list[dict], featfn) -> list[float]:
    """Log residuals ln(measured/estimated) of each model's rows when that model is left out of the fit."""
    out = []
    for model in sorted({r["model_id"] for r in rows}):
        train = [r for r in rows if r["model_id"] != model]
        coef, _ = fit_terms(train, featfn)
        rates = [v for k, v in coef.items() if k.startswith("a_") and k != "a_kv" and v]
        for k in (k for k in featfn(rows[0]) if k.startswith("a_") and not coef.get(k)):
            coef[k] = max(rates) if rates else 1.0  # the planner's fallback: the least efficient fitted class
        out += [math.log(r["tps"] * sum(coef.get(k, 0) * v for k, v in featfn(r).items()))
                for r in rows if r["model_id"] == model]
    return out


def fit_batch_eff(grp: list[dict], cal) -> float | None:
    """decode_batch_eff from dense batched rows: the per-extra-sequence time left after the memory model."""
    from tokbench.plan.speed import active_params, step_time

    effs = []
    for r in grp:
        if r["metric"] not in ("per_stream", "aggregate") or r["concurrency"] < 2 or r["spec"].n_experts:
            continue
        n = r["concurrency"]
        t_meas = 1 / r["tps"] if r["metric"] == "per_stream" else n / r["tps"]
        t_model, _ = step_time(r["spec"], r["wb"], r["hw"], cal, r["depth"], "f16", n)
        extra = (t_meas - t_model) / (n - 1)
        if extra > 0 and r["hw"].fp16_tflops:
            effs.append(2 * active_params(r["spec"]) / (extra * r["hw"].fp16_tflops * 1e12))
    return statistics.median(effs) if effs else None


def _decode_rows(grp: list[dict]) -> list[dict]:
    """Single-stream decode rows; a machine's llama-server rows go to the server fit instead."""
    machine = any(r["source"].startswith("measured here") for r in grp)
    return [r for r in grp if r["metric"] in ("decode", "per_stream") and r["concurrency"] == 1
            and not (machine and r.get("server"))]


def fit_machine(key: tuple[str, str], grp: list[dict], sweeps: list[dict] | None = None) -> dict:
    """Every term of the speed model for one machine x engine (see the module docstring)."""
    from tokbench.catalog.calibration import _row

    dec = _decode_rows(grp)
    coef, names = fit_terms(dec, decode_features)
    res = [math.log(r["tps"] / predict(coef, decode_features(r))) for r in dec]
    cv = lomo_residuals(dec, decode_features)
    pre = [r for r in grp if r["metric"] == "prefill" and r["hw"].fp16_tflops]
    pcoef, _ = fit_terms(pre, prefill_features) if pre else ({}, [])
    etas = {c: 1 / coef[f"a_{c}"] for c in CLASSES if coef.get(f"a_{c}")}
    eff = {k: 1 / pcoef[f"p_{k}"] for k in ("float", "quant", "moe", "attn") if pcoef.get(f"p_{k}")}
    base_eff = eff.get("float") or eff.get("quant") or statistics.median(
        r["tps"] * sum(prefill_features(r).values()) for r in pre)
    row = {
        "family": key[0], "engine": key[1], "eta": f"{min(etas.values()):.4f}", "t0_ms": f"{coef.get('t0', 0) * 1e3:.3f}",
        "band_low": f"{math.exp(min(min(cv), 0) - CV_MARGIN):.3f}", "band_high": f"{math.exp(max(max(cv), 0) + CV_MARGIN):.3f}",
        "prefill_eff": f"{base_eff:.4f}", "n_decode": len(dec), "n_prefill": len(pre),
        "rms_log_resid": f"{math.sqrt(sum(x * x for x in res) / len(res)):.4f}",
        **{f"eta_{c}": f"{v:.4f}" for c, v in etas.items()},
        "eta_kv": f"{1 / coef['a_kv']:.4f}" if coef.get("a_kv") else "",
        **{f"{k}_us": f"{coef[k] * 1e6:.3f}" for k in ("c_mat", "c_id", "c_lin") if k in names},
        **{f"prefill_eff_{k}": f"{v:.4f}" for k, v in eff.items() if k != "float"},
        "basis": f"machine fit: {len(dec)} decode rows ({', '.join(sorted({r['model_id'] for r in dec}))}), "
                 f"{len(pre)} prefill rows; terms {', '.join(names)}; band = leave-one-model-out residuals",
    }
    cal = _row({**{k: "" for k in FIELDS}, **row})
    srv = [r for r in grp if r.get("server")]
    sweeps = [r for r in (sweeps or []) if r["role"] != "holdout"]
    if srv or sweeps:
        fs = _server_module()
        single = [r for r in srv if r["concurrency"] == 1 and r["depth"] != 576]  # 576: the sweep's own row
        single += [r for r in sweeps if r["concurrency"] == 1]
        batched = [{**r, "itl_s": 1 / r["tps"]} for r in srv if r["concurrency"] > 1 and r["depth"] == 0]
        batched += [r for r in sweeps if r["concurrency"] > 1]
        terms = fs.fit_server_terms(cal, single, batched, sweeps, SWEEP_GEN)
        row.update({k: f"{v:.4f}" for k, v in terms.items()})
        row["basis"] += (f"; server/batched terms from {len(single)} single-stream and {len(batched)} batched "
                         f"llama-server rows ({', '.join(sorted({r['model_id'] for r in single + batched}))})")
    else:
        be = fit_batch_eff(grp, cal)
        row["decode_batch_eff"] = f"{be:.4f}" if be else ""
    return row


def _server_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("fit_server", Path(__file__).resolve().parent / "fit_server.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fit_family(key: tuple[str, str], grp: list[dict]) -> dict | None:
    """The one-factor row (eta, t0, prefill_eff) of a family x engine."""
    from tokbench.catalog.calibration import DEFAULTS, _row
    from tokbench.plan.speed import flops_per_token, step_bytes

    fam, eng = key
    dec = _decode_rows(grp)
    if not dec:
        return None
    xs = [step_bytes(r["spec"], r["wb"], r["depth"], "f16", 1).total / r["hw"].bandwidth_bytes for r in dec]
    ts = [1 / r["tps"] for r in dec]
    eta, t0 = fit_eta_t0(xs, ts)
    res = [math.log(r["tps"] * (x / eta + t0)) for r, x in zip(dec, xs)]
    pre = [r["tps"] * flops_per_token(r["spec"], r["depth"]) / (r["hw"].fp16_tflops * 1e12)
           for r in grp if r["metric"] == "prefill" and r["hw"].fp16_tflops]
    eff = statistics.median(pre) if pre else DEFAULTS.get(fam, DEFAULTS["cpu"]).prefill_eff
    row = {"family": fam, "engine": eng, "eta": f"{eta:.4f}", "t0_ms": f"{t0 * 1000:.3f}",
           "band_low": f"{math.exp(min(min(res), 0) - MIN_BAND):.3f}",
           "band_high": f"{math.exp(max(max(res), 0) + MIN_BAND):.3f}",
           "prefill_eff": f"{eff:.4f}", "n_decode": len(dec), "n_prefill": len(pre),
           "rms_log_resid": f"{math.sqrt(sum(x * x for x in res) / len(res)):.4f}",
           "basis": f"fit of {len(dec)} decode rows ({', '.join(sorted({r['model_id'] for r in dec}))}) on "
                    f"{', '.join(sorted({r['hardware_id'] for r in dec}))}; published_measurements.csv"}
    be = fit_batch_eff(grp, _row({**{k: "" for k in FIELDS}, **row}))
    row["decode_batch_eff"] = f"{be:.4f}" if be else ""
    return row


def fit(rows: list[dict], sweeps: list[dict] | None = None) -> list[dict]:
    """Calibration rows: one per machine with enough of its own rows, one per family x engine."""
    from tokbench.catalog.calibration import MACHINE_SOURCE_PREFIX

    machines: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        if r["source"].startswith(MACHINE_SOURCE_PREFIX):
            machines[(r["hardware_id"], r["engine_id"])].append(r)
    machines = {k: g for k, g in machines.items() if len(_decode_rows(g)) >= MIN_HW_ROWS}
    families: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        if (r["hardware_id"], r["engine_id"]) in machines and r["source"].startswith(MACHINE_SOURCE_PREFIX):
            continue  # describes that card, fitted into its own row
        families[(r["family"], r["engine_id"])].append(r)
    out = [fit_machine(k, g, [s for s in sweeps or [] if (s["hardware_id"], s["engine_id"]) == k])
           for k, g in sorted(machines.items())]
    out += [row for k, g in sorted(families.items()) if (row := fit_family(k, g))]
    return out


def write_roles() -> None:
    """Set the role column of the H100 campaign rows in both CSVs from H100_HOLDOUT."""
    def role(r: dict) -> str:
        held = SERVER_HOLDOUT if is_server(r) or "ttft_ms_p50" in r else H100_HOLDOUT  # sweep rows have TTFT
        return "holdout" if (r["model_id"], r["quant_id"]) in held else "fit"

    for path, pick in (
        (DATA / "published_measurements.csv", lambda r: r["source"].startswith(CAMPAIGN_SOURCE)),
        (CAMPAIGN, lambda r: True),
        (SWEEPS, lambda r: True),
    ):
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            fields, rows = list(reader.fieldnames), list(reader)
        if "role" not in fields:
            fields.append("role")
        eol = "\r\n" if b"\r\n" in path.read_bytes()[:4096] else "\n"  # keep the file's own line ends
        for r in rows:
            if pick(r):
                r["role"] = role(r)
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields, lineterminator=eol)
            w.writeheader()
            w.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    """Fit and write (or, with --check, print) the calibration table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="print the fit; write nothing")
    ap.add_argument("--write-roles", action="store_true", help="write the split's role column into both CSVs")
    args = ap.parse_args(argv)
    if args.write_roles and not args.check:
        write_roles()
    with (DATA / "published_measurements.csv").open(newline="") as fh:
        raw = list(csv.DictReader(fh))
    # Held-out rows check the fit (tokbench validate); they never enter it.
    rows, skipped = prepare(raw)  # all rows: "same" sources resolve through their predecessors
    sweeps = _server_module().sweep_rows(SWEEPS, rows) if SWEEPS.exists() else []
    table = fit([r for r in rows if r.get("role") != "holdout"], sweeps)
    for s in skipped:
        print(f"skipped: {s}", file=sys.stderr)
    for t in table:
        extra = " ".join(f"{k}={t[k]}" for k in FIELDS[10:-1] if t.get(k))
        print(f"{t['family']:15} {t['engine']:10} eta={t['eta']} t0={t['t0_ms']} ms band=[{t['band_low']}, "
              f"{t['band_high']}] prefill_eff={t['prefill_eff']} n={t['n_decode']}/{t['n_prefill']} "
              f"rms={t['rms_log_resid']} {extra}")
    if not args.check:
        with (DATA / "calibration.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n", restval="")
            w.writeheader()
            w.writerows(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
