"""The server terms' fit (tokbench.calibrate.serving_fit) on the project's own sweep rows."""

import pytest

from tokbench.calibrate.rows import load_rows
from tokbench.calibrate.serving_fit import save_rate
from tokbench.catalog.calibration import speed_params


@pytest.fixture(scope="module")
def sweeps():
    rows, _ = load_rows()
    out = [r for r in rows if r.metric == "sweep" and r.role != "test"]
    assert any(r.extra["requests"] > r.concurrency > 1 for r in out)  # sweeps that reuse slots
    return out


def test_save_rate_replays_each_sweep_on_its_measured_step(sweeps, monkeypatch):
    import tokbench.plan.speed as speed

    doc = speed_params()
    base = save_rate(sweeps, doc)
    assert 1e7 < base < 1e11
    # The step model off by half again: each sweep is replayed on its own measured step, so the rate does not move
    # (fitted on the model's steps, it would have to make up for them).
    real = speed.step_time
    monkeypatch.setattr(speed, "step_time", lambda *a, **kw: (1.5 * real(*a, **kw)[0], real(*a, **kw)[1]))
    assert save_rate(sweeps, doc) == pytest.approx(base, rel=1e-6)


def test_a_generation_with_batched_steps_of_its_own_gets_its_own_terms():
    from tokbench.calibrate.serving_fit import MIN_GENERATION_ROWS, batched_terms_by_generation
    from tokbench.catalog.calibration import get_calibration
    from tokbench.catalog.hardware import get_hardware
    from tokbench.plan.speed import step_time

    rows, _ = load_rows()
    batched = [r for r in rows if r.extra.get("step_s") and r.role != "test"]
    doc = speed_params()
    by_gen = batched_terms_by_generation(batched, doc, "llama.cpp/cuda")
    hopper = [r for r in batched if r.hw.generation == "hopper"]
    assert len(hopper) >= MIN_GENERATION_ROWS and "hopper" in by_gen and "ampere" not in by_gen
    assert batched_terms_by_generation(batched, doc, "llama.cpp/metal") == {}  # one generation: the backend's fit
    cuda = doc["backends"]["llama.cpp/cuda"]
    hopper_kappa = by_gen["hopper"]["kappa"]
    assert cuda["batched_gen"]["hopper"]["kappa"] == pytest.approx(hopper_kappa, rel=1e-3)  # the committed fit's
    # The H200 (hopper, no batched row) takes the H100's terms; an RTX 4090 (ada, none) the backend's.
    assert get_calibration(get_hardware("h200"), "llama.cpp").kappa == pytest.approx(hopper_kappa, rel=1e-3)
    assert get_calibration(get_hardware("rtx-4090"), "llama.cpp").kappa == cuda["kappa"]
    # Fitted on the DGX Spark's 120 steps and the H100's 7 together, the H100's MoE step at 16 concurrent read 29%
    # under; on its generation's own terms every H100 step is within 30%, that one within 10%.
    for r in hopper:
        k = get_calibration(r.hw, "llama.cpp-server" if r.server else r.engine_id, flash_attn=r.flash_attn)
        t = step_time(r.spec, r.work, r.hw, k, r.depth, "f16", r.concurrency, r.server)[0]
        assert abs(t / r.extra["step_s"] - 1) < 0.3, (r.model_id, r.concurrency)
        if r.model_id == "gpt-oss-120b" and r.concurrency == 16:
            assert abs(t / r.extra["step_s"] - 1) < 0.1
