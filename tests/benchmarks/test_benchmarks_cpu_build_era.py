"""benchmarks/cpu_build_era/measure.py: the committed rows and table are what the report makes of the
committed raw llama-bench output, and the fit files each build's rows under its own era."""

from __future__ import annotations

import sys
from argparse import Namespace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "cpu_build_era"))

import measure as era  # noqa: E402


def test_report_reproduces_the_committed_rows_and_table(tmp_path, monkeypatch):
    monkeypatch.setattr(era, "CSV", tmp_path / "build_era.csv")
    monkeypatch.setattr(era, "MD", tmp_path / "build_era.md")
    era.report(Namespace())
    assert (tmp_path / "build_era.csv").read_text() == (ROOT / "data/cpu_host/build_era.csv").read_text()
    assert (tmp_path / "build_era.md").read_text() == (ROOT / "data/cpu_host/build_era.md").read_text()


def test_each_build_is_its_own_era_in_the_fit():
    from tokbench.calibrate.rows import load_rows

    rows, _ = load_rows()
    eras = {(r.hardware_id, r.era) for r in rows if "build_era" in r.source}
    assert eras == {(h, e) for h in ("cpu-dev-vm-epyc-2c", "cpu-h200-vm-xeon-16c") for e in ("2024", "2025", "current")}


def test_old_builds_are_divided_only_by_the_current_run_of_their_own_call():
    """The Xeon's 2025 comparison ran on a machine lent hours later that decoded about a third slower: a ratio
    across the two calls would read as a build difference."""
    text = (ROOT / "data/cpu_host/build_era.md").read_text()
    rows = [ln.split(" | ") for ln in text.splitlines() if ln.startswith("| cpu-h200-vm-xeon-16c | Q4_0 | 4 |")]
    assert len(rows) == 2  # one line per call, each with its own current-build run
    old_2024 = next(r for r in rows if r[3] != "-")
    old_2025 = next(r for r in rows if r[4] != "-")
    assert float(old_2024[6]) == round(float(old_2024[3]) / float(old_2024[5]), 2)
    assert float(old_2025[7].rstrip(" |")) == round(float(old_2025[4]) / float(old_2025[5]), 2)
    assert old_2024[5] != old_2025[5]
    assert "0.66x those of the first call" in text
