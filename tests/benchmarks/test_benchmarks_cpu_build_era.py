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
    assert eras == {("cpu-dev-vm-epyc-2c", e) for e in ("2024", "2025", "current")} | {
        ("cpu-h200-vm-xeon-16c", e) for e in ("2024", "current")}
