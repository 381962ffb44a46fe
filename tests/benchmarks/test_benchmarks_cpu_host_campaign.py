"""benchmarks/gpu/cpu_host_campaign.py: the committed results and the rows the fit reads are what the
report makes of the committed raw files, and each set's predictions were committed before its
measurements."""

from __future__ import annotations

import shutil
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "gpu"))

import cpu_host_campaign as campaign  # noqa: E402

DATA = ROOT / "data" / "cpu_device"


def test_report_reproduces_the_committed_results(tmp_path):
    d = tmp_path / "cpu_device"
    shutil.copytree(DATA, d)
    (d / "results.md").unlink()
    (d / "measurements.csv").unlink()
    campaign.report(Namespace(dir=str(d)))
    assert (d / "measurements.csv").read_text() == (DATA / "measurements.csv").read_text()
    assert (d / "results.md").read_text() == (DATA / "results.md").read_text()


def test_set_items_carry_their_own_thread_counts():
    four = campaign.items("4", 16)
    assert ("cpu-llama-s", "Q8_0", 1024, 1) in four
    assert all(t in (1, campaign.os.cpu_count()) for *_, t in four)  # 0 means every core
    assert {t for *_, t in campaign.items("2", 16)} == {16}  # older sets: one count for all
    assert campaign._shape("cpu-llama-m")["head_dim"] == 128 and campaign._shape("gpt-oss-20b") == {}


def _first_commit(path: Path) -> int:
    out = subprocess.run(["git", "log", "--diff-filter=A", "--format=%ct", "--", str(path)], cwd=ROOT,
                         capture_output=True, text=True).stdout.split()
    return int(out[-1]) if out else 0


def test_each_sets_predictions_were_committed_before_its_measurements():
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True, text=True)
    if shallow.returncode != 0 or shallow.stdout.strip() != "false":
        pytest.skip("no full git history here")
    for pred, meas in campaign.SETS:
        p, m = _first_commit(DATA / pred), _first_commit(DATA / meas)
        if p and m:
            assert p < m, (pred, meas)
