"""The decode fit recovers known parameters, respects its bounds, and its holdout labels levels right."""

import math
from dataclasses import replace

import numpy as np
import pytest

from tokbench.calibrate import decode_fit as df
from tokbench.calibrate import holdout as ho
from tokbench.calibrate.rows import Row, attach
from tokbench.catalog.calibration import get_calibration
from tokbench.plan.speed import step_time


def _synthetic_rows(doc):
    """Rows whose measurements are the model's own predictions under the parameter document ``doc``."""
    grid = [("h100-sxm", "llama-3.1-8b", "F16"), ("h100-sxm", "llama-3.1-8b", "Q4_K_M"),
            ("h100-sxm", "qwen2.5-32b", "Q4_K_M"), ("rtx-4090", "llama-3.1-8b", "Q4_K_M"),
            ("rtx-4090", "qwen2.5-7b", "Q8_0"), ("rtx-3090", "llama-3.1-8b", "F16"), ("a100-80gb-sxm", "qwen2.5-14b", "Q4_K_M"),
            ("rtx-5090", "qwen2.5-7b", "Q4_K_M"), ("h100-pcie", "qwen2.5-7b", "Q8_0"), ("rtx-3090", "qwen2.5-32b", "Q4_K_M")]
    rows = [Row(hardware_id=h, model_id=m, quant_id=q, engine_id="llama.cpp", metric="decode", depth=d, concurrency=1,
                tps=1.0, source="measured here: synthetic") for h, m, q in grid for d in (64, 4160)]
    rows, skipped = attach(rows)
    assert not skipped
    for r in rows:
        r.tps = 1.0 / step_time(r.spec, r.work, r.hw, get_calibration(r.hw, "llama.cpp", doc), r.depth)[0]
    return rows


def test_fit_reproduces_rows_made_by_the_model():
    from tokbench.catalog.calibration import speed_params

    doc = speed_params()
    rows = _synthetic_rows(doc)
    d = df.design(rows, doc["p"])
    theta = df.fit(d)
    err = np.abs(np.log(df.predict(d, theta) / d.t_meas))
    assert err.max() < 0.02, err.max()


def test_bandwidth_share_never_exceeds_one():
    from tokbench.catalog.calibration import speed_params

    doc = speed_params()
    rows = _synthetic_rows(doc)
    for r in rows:
        r.tps *= 3.0  # impossible speeds push every efficiency up: the bound must hold
    d = df.design(rows, doc["p"])
    theta = df.fit(d)
    for name, v in zip(d.names, theta):
        if name.startswith("mem:"):
            assert v <= 1e-9, name


def test_holdout_levels():
    from tokbench.catalog.calibration import speed_params

    rows = _synthetic_rows(speed_params())
    preds = ho.leave_one_out(rows, "machine", speed_params()["p"])
    level = {p.hardware_id: p.level for p in preds}
    assert level["h100-sxm"] == "generation"  # the H100 PCIe is Hopper too
    assert level["rtx-4090"] == "extrapolated"  # the only Ada in this set
    assert level["rtx-3090"] == "extrapolated"  # GA10x; the A100 is GA100: another generation
    by_model = ho.leave_one_out(rows, "model", speed_params()["p"])
    assert {p.level for p in by_model if p.model_id == "qwen2.5-32b"} == {"chip"}


def test_bands_nest_and_cover_the_stated_share():
    preds = [ho.Prediction("g", "x", "m", "q", "llama.cpp", 0, 100.0, 100.0 * f, lv, True)
             for lv, spread in (("chip", 0.05), ("generation", 0.15), ("extrapolated", 0.4))
             for f in np.exp(np.linspace(-spread, spread, 21))]
    b = ho.bands(preds)
    assert b["extrapolated"][0] <= b["generation"][0] <= b["chip"][0] < 1 < b["chip"][1] <= b["generation"][1] <= b["extrapolated"][1]
    s = ho.summary(preds, b)
    assert 70 <= s["all"]["inside_band_pct"] <= 90


def test_attention_without_flash_attention_has_its_own_throughput():
    # llama-bench ran attention as separate KQ / softmax / KQV kernels before "auto" turned flash attention
    # on: such rows pin a throughput of their own on accelerators, so they no longer slow the fused kernel the
    # planner predicts (the H200 at depth 16384, in no fit, was 15-34% faster than a shared term said).
    rows = [Row(hardware_id="rtx-4090", model_id="llama-3.1-8b", quant_id="Q4_K_M", engine_id="llama.cpp",
                metric="decode", depth=4160, concurrency=1, tps=100.0, source="measured here: synthetic", test=t)
            for t in ("tg128 -fa 1", "tg128 -fa 0")]
    rows += [Row(hardware_id="cpu-ryzen-9-7950x", model_id="llama-3.1-8b", quant_id="Q4_K_M", engine_id="llama.cpp",
                 metric="decode", depth=4160, concurrency=1, tps=10.0, source="measured here: synthetic",
                 test="tg128 -fa 0")]
    rows, skipped = attach(rows)
    assert not skipped
    d = df.design(rows, 4.0)
    assert [d.names[i] for i in d.i_att] == ["llama.cpp/cuda:rho_att", "llama.cpp/cuda:rho_att_nofa",
                                             "llama.cpp/cpu:rho_att"]
    params = df.to_params(d, d.prior_mean)["backends"]["llama.cpp/cuda"]
    assert {"rho_att", "rho_att_nofa"} <= set(params)
