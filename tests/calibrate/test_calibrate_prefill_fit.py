"""The prefill fit: it predicts as the planner does, its leave-one-machine-out never sees the held-out
machine, and a prompt series that gets faster with longer prompts stays out of it."""

import copy

import numpy as np
import pytest

from tokbench.calibrate import PREFILL_RISE, prefill_rows
from tokbench.calibrate import holdout as ho
from tokbench.calibrate import prefill_fit as pf
from tokbench.calibrate.rows import Row, attach
from tokbench.catalog.calibration import get_calibration, speed_params
from tokbench.plan.speed import prefill_seconds_per_token

GRID = [("h100-sxm", "llama-3.1-8b", "Q4_K_M"), ("h100-pcie", "qwen2.5-7b", "Q8_0"), ("rtx-4090", "llama-3.1-8b", "F16"),
        ("rtx-4090", "qwen2.5-14b", "Q4_K_M"), ("rtx-3090", "llama-3.1-8b", "Q4_K_M"), ("rtx-3090", "qwen3-30b-a3b", "Q4_K_M"),
        ("a100-80gb-sxm", "qwen2.5-14b", "Q4_K_M"), ("a100-80gb-pcie", "llama-3.1-8b", "Q8_0"), ("m2-ultra-76c", "llama-3.1-8b", "Q4_0")]


def _rows(doc, scale=None):
    """pp512 rows at depth 0 and 4096 whose measurements are the planner's own prefill estimates (times
    ``scale[hardware]``)."""
    rows = [Row(hardware_id=h, model_id=m, quant_id=q, engine_id="llama.cpp", metric="prefill", depth=d, concurrency=1,
                tps=1.0, source="measured here: synthetic", test=f"pp512 @ d{d - 256}") for h, m, q in GRID for d in (256, 4352)]
    rows, skipped = attach(rows)
    assert not skipped
    for r in rows:
        s = prefill_seconds_per_token(r.spec, r.work, r.hw, get_calibration(r.hw, "llama.cpp", doc), r.depth)
        r.tps = (scale or {}).get(r.hardware_id, 1.0) / s
    return rows


def test_fit_predicts_what_the_planner_computes():
    doc = speed_params()
    rows = _rows(doc)
    d = pf.design(rows, doc)
    th = pf.fit_theta(d)
    # The fit recovers rows made by the planner's own prefill model (to a few percent: the priors hold
    # terms 18 rows cannot separate, such as a generation's factor against a kind's efficiency) ...
    assert np.abs(np.log(pf.predict(d, th) * np.array([r.tps for r in rows]))).max() < 0.06
    # ... and the fitted parameters, put in a document, give the planner the fit's own predictions.
    fitted = copy.deepcopy(doc)
    for b, params in pf.to_params(d, th, rows).items():
        fitted["backends"][b].update(params)
    for r, t in zip(rows, pf.predict(d, th)):
        planner = prefill_seconds_per_token(r.spec, r.work, r.hw, get_calibration(r.hw, "llama.cpp", fitted), r.depth)
        assert planner == pytest.approx(t, rel=1e-9)
    assert fitted["backends"]["llama.cpp/cuda"]["prefill_hardware"] == sorted({h for h, _, _ in GRID if h != "m2-ultra-76c"})


def test_leave_one_machine_out_never_sees_the_held_out_machine():
    doc = speed_params()
    base = ho.prefill_leave_one_out(_rows(doc), doc)
    # The RTX 4090's measurements 3x faster: its own held-out predictions must not move (it is not in its
    # refit); every other machine's refit now sees it.
    moved = ho.prefill_leave_one_out(_rows(doc, {"rtx-4090": 3.0}), doc)
    for a, b in zip(base, moved):
        assert (a.hardware_id, a.model_id, a.depth) == (b.hardware_id, b.model_id, b.depth)
        if a.hardware_id == "rtx-4090":
            assert b.predicted_tps == pytest.approx(a.predicted_tps, rel=1e-9)
            assert b.measured_tps == pytest.approx(3 * a.measured_tps)
    assert any(abs(b.predicted_tps / a.predicted_tps - 1) > 0.01 for a, b in zip(base, moved) if a.hardware_id != "rtx-4090")
    level = {p.hardware_id: p.level for p in base}
    assert level["h100-sxm"] == "generation" and level["m2-ultra-76c"] == "extrapolated"
    # The decode refit without a machine supplies the node cost of its prefill refit and prediction: given
    # one with twice the node cost, that machine's predictions change (the refit's efficiencies make up
    # for most of it on the long prompts).
    refit = copy.deepcopy({"mem": doc["mem"], "backends": doc["backends"]})
    refit["backends"]["llama.cpp/cuda"]["node_s"] *= 2
    slow = ho.prefill_leave_one_out(_rows(doc), doc, {"rtx-4090 (llama.cpp/cuda)": refit}, only="rtx-4090")
    assert {p.hardware_id for p in slow} == {"rtx-4090"}
    by = {(p.model_id, p.depth): p.predicted_tps for p in base if p.hardware_id == "rtx-4090"}
    assert max(abs(p.predicted_tps / by[(p.model_id, p.depth)] - 1) for p in slow) > 5e-3


def test_a_prompt_series_faster_at_longer_prompts_is_left_out():
    rows, _ = attach([Row(hardware_id="rtx-4090", model_id="llama-3.1-8b", quant_id="Q4_K_M", engine_id="llama.cpp",
                          metric="prefill", depth=n // 2, concurrency=1, tps=tps, source=src, test=test)
                      for src, test, series in (("a", "pp", (5000.0, 5000.0 * PREFILL_RISE * 1.05, 4500.0)),
                                                ("b", "pp", (5000.0, 5000.0 * PREFILL_RISE * 0.95, 4700.0)),
                                                ("c", "prefill", (300.0, 900.0, 800.0)))
                      for n, tps in zip((512, 1024, 2048), series)
                      for test in [f"{test}{n}" if test == "pp" else test]])
    skipped: list = []
    kept = prefill_rows(rows, skipped)
    # Source a rises by more than the noise allowed between two prompt lengths: all of it goes; b rises
    # within it; c is a server's rate (a per-request cost short prompts pay more of).
    assert sorted({r.source for r in kept}) == ["b", "c"]
    assert len(skipped) == 1 and "faster with longer prompts" in skipped[0]


def test_rows_without_flash_attention_take_an_attention_efficiency_the_planner_does_not_use():
    rows, _ = attach([Row(hardware_id="rtx-4090", model_id="llama-2-7b", quant_id="Q4_0", engine_id="llama.cpp",
                          metric="prefill", depth=256, concurrency=1, tps=9000.0, source=src, test=test, extra=extra)
                      for test, src, extra in (("pp512 (-fa 0)", "llama.cpp discussion 15013", {}),
                                               ("pp512 (-fa 1)", "llama.cpp discussion 15013", {}),
                                               ("pp512", "measured here: H100 campaign", {}),  # current: auto, on
                                               ("pp512", "published (b3400)", {"engine_text": "llama.cpp b3400"}),
                                               ("prefill", "cpu_host (tokbench bench --engine llama.cpp --x)", {}))])
    assert [r.flash_attn for r in rows] == [False, True, True, False, False]
    d = pf.design(rows, speed_params())
    attn = [d.names[i] for i in d.ie[:, pf.KINDS.index("attn")]]
    assert attn == ["llama.cpp/cuda:prefill:attn_nofa", "llama.cpp/cuda:prefill:attn", "llama.cpp/cuda:prefill:attn",
                    "llama.cpp/cuda:prefill:attn_nofa", "llama.cpp/cuda:prefill:attn_nofa"]
    # The planner's attention efficiency is the flash-attention one (today's default).
    fitted = pf.to_params(d, pf.fit_theta(d), rows)["llama.cpp/cuda"]["prefill"]
    doc = copy.deepcopy(speed_params())
    doc["backends"]["llama.cpp/cuda"].update(prefill=fitted)
    k = get_calibration(rows[0].hw, "llama.cpp", doc)
    assert k.prefill["attn"] == pytest.approx(fitted["attn"] * doc["backends"]["llama.cpp/cuda"]["prefill_gen"].get("ada", 1.0))


def test_a_kind_no_row_of_a_backend_ran_keeps_its_typical_value():
    # Only rows without flash attention: the planner's (flash) attention efficiency is the prior's value.
    rows, _ = attach([Row(hardware_id="rtx-4090", model_id="llama-2-7b", quant_id="Q4_0", engine_id="llama.cpp",
                          metric="prefill", depth=d, concurrency=1, tps=9000.0 - d, source="b", test=f"pp512 (-fa 0) {d}")
                      for d in (256, 4352)])
    d = pf.design(rows, speed_params())
    fitted = pf.to_params(d, pf.fit_theta(d), rows)["llama.cpp/cuda"]["prefill"]
    assert fitted["attn"] == pytest.approx(pf.DEFAULTS["attn"]) and set(pf.KINDS) <= set(fitted)
