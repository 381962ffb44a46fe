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


def test_a_set_built_for_a_narrower_isa_is_predicted_and_fitted_as_that_isa(tmp_path, monkeypatch):
    """Set 8 ran llama.cpp built for AVX2 only on an AVX-512 Xeon: the planner must predict it with the AVX2
    kernels' factors (not the host's widest ISA), and its rows must reach the fit as AVX2 rows."""
    import csv
    import json

    from tokbench.env import host_hardware

    probe = json.loads((DATA / "predictions-cpu-set7-2026-11-30.json").read_text())["probe"]  # an AVX-512 Xeon
    hw = host_hardware(probe)
    assert hw.generation == "cpu-x86-avx512"
    monkeypatch.setattr(campaign, "host", lambda threads: (probe, hw, hw.on_threads(threads)))
    for set_id in ("8", "3"):  # set 3: the same 3B rows on 4 threads, built for the host's AVX-512
        campaign.predict(Namespace(out=str(tmp_path / set_id), set=set_id, threads=4, commit="test"))
    avx2 = json.loads((tmp_path / "8" / "predictions-cpu-set8.json").read_text())
    avx512 = json.loads((tmp_path / "3" / "predictions-cpu-set3.json").read_text())
    assert avx2["build_generation"] == avx2["hardware"]["generation"] == "cpu-x86-avx2"
    assert avx512["build_generation"] is None and avx512["hardware"]["generation"] == "cpu-x86-avx512"
    same = {(r["model"], r["quant"], r["threads"]): r["predicted"] for r in avx512["rows"]}
    both = [(p["predicted"], same[k]) for p in avx2["rows"] if (k := (p["model"], p["quant"], p["threads"])) in same]
    assert len(both) >= 5 and any(abs(a / b - 1) > 0.05 for a, b in both)  # other kernel factors, other answers

    rows = list(csv.DictReader((DATA / "measurements.csv").open()))
    n_set8 = sum(1 for _ in (DATA / "cpu-campaign-set8.jsonl").open())
    assert sum(r["generation"] == "cpu-x86-avx2" for r in rows) == n_set8
    assert {r["hardware_id"] for r in rows if r["generation"] == "cpu-x86-avx2"} == {campaign.HARDWARE_ID}
