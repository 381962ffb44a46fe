"""benchmarks/host_kernel_check.py: its report against a committed set, and its arguments."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("host_kernel_check", ROOT / "benchmarks" / "host_kernel_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_report_of_set_4_reads_what_was_committed():
    mod = _script()
    folder = ROOT / "data" / "cpu_host" / "kernel_probe"
    doc = json.loads((folder / "check-2026-12-01-set4.json").read_text())
    results = json.loads((folder / "check-2026-12-01-set4-measured.json").read_text())
    lines = mod.report("check-2026-12-01-set4.json", doc, results, "then")
    table = [line for line in lines if line.startswith("| ") and "---" not in line][1:]
    assert len(table) == len(doc["predictions"]) == 12
    assert "**probed 23.1%**" in lines[-1] and "fitted parameters alone 34.8%" in lines[-1]
    committed = (folder / "check-2026-12-01-set4.md").read_text()
    assert all(row in committed for row in table)  # the committed table is this function's output
    assert mod.report("x.json", doc, [], "then")[-1] == "No prediction has a measurement."


def test_bad_arguments_exit_2(capsys):
    mod = _script()
    assert mod.main(["predict"]) == 2
    assert mod.main(["bogus", "x.json"]) == 2
    assert mod.main(["predict", "x.json", "--set", "99"]) == 2
    assert "predict OUT.json" in capsys.readouterr().err
