"""benchmarks/repeat_floor.py: repeated measurements of one configuration and the floor they set."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import repeat_floor  # noqa: E402


def _row(tps: float, threads: int = 4, era: str = "current") -> SimpleNamespace:
    return SimpleNamespace(hardware_id="cpu-x", engine_id="llama.cpp", model_id="m", quant_id="Q4_0", depth=16,
                           era=era, tps=tps, hw=SimpleNamespace(compute_units=threads))


def test_each_repeat_is_predicted_by_the_others_and_lone_rows_are_left_out():
    rows = [_row(10.0), _row(12.1), _row(9.0, threads=8), _row(11.0, era="2024")]
    groups = repeat_floor.repeat_groups(rows)
    assert len(groups) == 1  # other threads or another build era measure something else
    errs = sorted(e for _, e in repeat_floor.floor_errors(groups))
    assert errs == [pytest.approx(100 * (10.0 / 12.1 - 1)), pytest.approx(21.0)]
    three = repeat_floor.floor_errors(repeat_floor.repeat_groups([_row(8.0), _row(8.0), _row(16.0)]))
    assert [round(e, 6) for _, e in three] == [pytest.approx(100 * (2 ** 0.5 - 1)), pytest.approx(100 * (2 ** 0.5 - 1)), -50.0]
