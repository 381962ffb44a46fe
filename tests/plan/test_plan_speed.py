"""Speed model: calibration reproduces the published rows; ceilings, bands, concurrency, prefill."""

import csv
import importlib.util
import math
from pathlib import Path

import pytest

from tokbench.catalog.calibration import calibration_rows, family, get_calibration
from tokbench.catalog.hardware import get_hardware
from tokbench.plan import estimate
from tokbench.plan.memory import weight_bytes
from tokbench.plan.speed import decode, step_bytes
from tokbench.modelspec import load_spec

ROOT = Path(__file__).resolve().parents[2]


def _fit_module():
    spec = importlib.util.spec_from_file_location("fit_calibration", ROOT / "scripts" / "fit_calibration.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def fitted_rows():
    fit = _fit_module()
    with (ROOT / "src/tokbench/catalog/data/published_measurements.csv").open() as fh:
        rows, _ = fit.prepare(list(csv.DictReader(fh)))
    return rows


def test_fit_recovers_known_parameters():
    fit = _fit_module()
    xs = [0.001, 0.004, 0.01, 0.02]
    ts = [x / 0.7 + 0.002 for x in xs]
    eta, t0 = fit.fit_eta_t0(xs, ts)
    assert eta == pytest.approx(0.7, rel=1e-6) and t0 == pytest.approx(0.002, rel=1e-6)


def test_committed_calibration_matches_a_fresh_fit(fitted_rows):
    fit_rows = [r for r in fitted_rows if r.get("role") != "holdout"]  # as the script fits
    fresh = {(r["family"], r["engine"]): r for r in _fit_module().fit(fit_rows)}
    committed = calibration_rows()
    assert set(fresh) == set(committed)
    for key, row in fresh.items():
        assert committed[key].eta == pytest.approx(float(row["eta"]), rel=1e-3)


def test_every_single_stream_row_is_inside_its_band(fitted_rows):
    n = 0
    for r in fitted_rows:
        if r["metric"] not in ("decode", "per_stream") or r["concurrency"] != 1 or r.get("role") == "holdout":
            continue
        cal = get_calibration(r["hw"], r["engine_id"])
        d = decode(r["spec"], r["wb"], r["hw"], cal, r["depth"])
        assert d.tps_low <= r["tps"] * 1.0001 and r["tps"] <= d.tps_high * 1.0001, (r["hardware_id"], r["test"])
        assert abs(math.log(r["tps"] / d.tps)) < 0.45, (r["hardware_id"], r["model_id"], r["test"], d.tps)
        n += 1
    assert n >= 25


def test_measurements_never_beat_the_ceiling(fitted_rows):
    for r in fitted_rows:
        if r["metric"] == "decode":
            b = step_bytes(r["spec"], r["wb"], r["depth"]).total
            assert r["tps"] < r["hw"].bandwidth_bytes / b, (r["hardware_id"], r["model_id"], r["test"])


def test_aggregate_grows_with_concurrency_like_dgx_spark_batched_bench(fitted_rows):
    # llama-batched-bench on DGX Spark: qwen2.5-7b Q8_0 29.2 tok/s at B=1, 593 aggregate at B=32.
    row = next(r for r in fitted_rows if r["metric"] == "aggregate" and r["concurrency"] == 32
               and r["model_id"] == "qwen2.5-7b")
    cal = get_calibration(row["hw"], "llama.cpp")
    d = decode(row["spec"], row["wb"], row["hw"], cal, row["depth"], concurrency=32)
    assert d.aggregate_tps == pytest.approx(row["tps"], rel=0.5)
    assert d.per_stream_tps < d.tps < d.aggregate_tps


def test_moe_experts_touched_raise_step_bytes():
    spec = load_spec("qwen3-30b-a3b")
    wb = weight_bytes(spec, "Q4_K_M")
    assert step_bytes(spec, wb, 0, concurrency=8).weights > 3 * step_bytes(spec, wb, 0).weights


def test_defaults_and_borrowed_engines_are_labelled():
    assert "borrowed" in get_calibration(get_hardware("h100-sxm"), "vllm").basis
    assert get_calibration(get_hardware("m3-ultra-80c"), "ollama").eta == get_calibration(get_hardware("m3-ultra-80c"), "llama.cpp").eta
    cal = get_calibration(get_hardware("ryzen-ai-max-395"), "llama.cpp")
    assert not cal.fitted and "default" in cal.basis
    assert family(get_hardware("dgx-spark")) == "nvidia-unified"


def test_estimate_band_and_prefill():
    row = estimate("llama-3.1-8b", "Q4_K_M", "m4-max-40c", context=4096)
    assert row.decode_tps_low < row.decode_tps < row.decode_tps_high <= row.decode_tps_ceiling
    assert row.prefill_tps and row.prefill_tps > 10 * row.decode_tps
