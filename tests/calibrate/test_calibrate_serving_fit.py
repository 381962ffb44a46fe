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
