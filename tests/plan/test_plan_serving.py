"""llama-server model: per-token server cost, batched decode, sweep simulation, held-out sweep error."""

import csv
import importlib.util
from pathlib import Path

import pytest

from tokbench.catalog.calibration import calibration_rows, get_calibration
from tokbench.catalog.hardware import get_hardware
from tokbench.plan import estimate
from tokbench.plan.memory import parse_engine
from tokbench.plan.serving import sweep_per_stream
from tokbench.report.validate import published_rows_validation

ROOT = Path(__file__).resolve().parents[2]
H100 = get_hardware("h100-sxm")


@pytest.fixture(scope="module")
def server_rows():
    return [r for r in published_rows_validation([]) if r["engine"] == "llama.cpp-server" and r["hardware"] == "h100-sxm"]


def test_held_out_server_rows_stay_within_their_measured_error(server_rows):
    held = [r for r in server_rows if r["role"] == "holdout"]
    assert len(held) == 6  # qwen3-30b-a3b and gpt-oss-120b at c = 1, 8, 16
    single = [abs(r["error_pct"]) for r in held if r["concurrency"] == 1]
    assert max(single) <= 5.0, single  # committed: +1.1%, +1.4%
    mape = sum(abs(r["error_pct"]) for r in held) / len(held)
    assert mape <= 12.0, mape  # committed: 9.9%
    assert max(abs(r["error_pct"]) for r in held) <= 30.0


def test_fit_server_rows_are_reproduced(server_rows):
    fit = [r for r in server_rows if r["role"] == "fit"]
    assert len(fit) >= 5
    assert all(abs(r["error_pct"]) <= 12.0 for r in fit), [(r["model"], r["concurrency"], r["error_pct"]) for r in fit]


def test_server_costs_more_than_in_process_by_the_server_term():
    a = estimate("llama-3.1-8b", "Q4_K_M", H100, "llama.cpp", context=576)
    b = estimate("llama-3.1-8b", "Q4_K_M", H100, "llama-server", context=576)
    cal = get_calibration(H100, "llama.cpp-server")
    assert b.engine == "llama.cpp-server" and b.server and not a.server
    extra = 1 / b.decode_tps - 1 / a.decode_tps
    assert extra == pytest.approx(cal.srv_seq_s + cal.srv_vocab_s * 128256, rel=1e-6)
    assert 0.1e-3 < extra < 2e-3  # the campaign: 0.5-1 ms per token between llama-bench and llama-server
    assert any("llama.cpp-server" in n for n in a.notes)


def test_ollama_is_a_server_and_other_rows_borrow_the_server_terms():
    assert parse_engine("LM-Studio") == "llama.cpp-server"
    row = estimate("llama-3.1-8b", "Q4_K_M", "m3-ultra-80c", "ollama", context=4096)
    assert row.server
    cal = get_calibration(get_hardware("m3-ultra-80c"), "ollama")
    assert cal.srv_seq_s > 0 and "borrowed" in cal.srv_basis


@pytest.mark.parametrize("model,quant", [("llama-3.1-8b", "Q4_K_M"), ("qwen2.5-32b", "Q4_K_M"),
                                         ("qwen3-30b-a3b", "Q4_K_M"), ("gpt-oss-120b", "MXFP4_MOE")])
@pytest.mark.parametrize("engine", ["llama.cpp", "llama.cpp-server"])
def test_more_concurrency_never_raises_per_stream_speed(model, quant, engine):
    rows = [estimate(model, quant, H100, engine, context=1024, concurrency=n) for n in (1, 2, 4, 8, 12, 16, 32, 64)]
    steps = [r.step_decode_tps for r in rows]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(steps, steps[1:])), steps
    sweeps = [estimate(model, quant, H100, engine, context=1024, concurrency=n, prompt_tokens=512).per_stream_decode_tps
              for n in (2, 4, 8, 16)]
    assert all(b <= a * (1 + 1e-9) for a, b in zip(sweeps, sweeps[1:])), sweeps


@pytest.mark.parametrize("model", ["llama-3.1-8b", "qwen2.5-7b", "qwen2.5-32b"])
@pytest.mark.parametrize("engine", ["llama.cpp", "llama.cpp-server"])
def test_dense_aggregate_never_below_single_stream_at_small_n(model, engine):
    one = estimate(model, "Q4_K_M", H100, engine, context=1024).decode_tps
    for n in range(2, 17):
        assert estimate(model, "Q4_K_M", H100, engine, context=1024, concurrency=n).aggregate_decode_tps > one


def test_sweep_simulation_limits():
    step = lambda n: 0.010 + 0.001 * n  # noqa: E731
    # No prompt work and no slot reuse: the per-stream rate is the step rate.
    assert sweep_per_stream(step, 0.0, 8, 1, 128, 8) == pytest.approx(1 / step(8), rel=1e-9)
    # Others' prefill inside a stream's span, and slot reuse, only slow it down.
    base = sweep_per_stream(step, 0.0, 8, 512, 128, 16)
    slower = sweep_per_stream(step, 1e-4, 8, 512, 128, 16)
    reuse = sweep_per_stream(step, 1e-4, 8, 512, 128, 16, reuse_stall_s=0.1)
    assert reuse < slower < base
    # One wave (requests == concurrency): the first admitted stream sees every later prefill chunk.
    assert sweep_per_stream(step, 1e-4, 16, 512, 128, 16) < 1 / step(16)


def test_server_roles_match_the_split():
    spec = importlib.util.spec_from_file_location("fit_calibration_srv", ROOT / "scripts" / "fit_calibration.py")
    fit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fit)
    with (ROOT / "data/h100_campaign/server_sweeps.csv").open(newline="") as fh:
        sweeps = list(csv.DictReader(fh))
    with (ROOT / "src/tokbench/catalog/data/published_measurements.csv").open(newline="") as fh:
        published = [r for r in csv.DictReader(fh) if "llama-server -np 16" in r["engine"]]
    for r in sweeps + published:
        assert r["role"] == ("holdout" if (r["model_id"], r["quant_id"]) in fit.SERVER_HOLDOUT else "fit"), r
    cal = calibration_rows()[("h100-sxm", "llama.cpp")]
    assert 0 < cal.eta_batch < cal.eta_for("kquant") and cal.srv_seq_s > 0 and cal.srv_vocab_s > 0
