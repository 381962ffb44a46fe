"""`tokbench compare RUN_A RUN_B`: table, JSON, regression exit code, bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))  # shared stored-run helper

from tb_report_runs import make_run  # noqa: E402
from tokbench.cli.main import main  # noqa: E402


def _runs(tmp_path, itl_b=0.0125):
    db = tmp_path / "c.db"
    a = make_run(db, [dict(depth=0, conc=1, n=10, ttft_s=0.05, itl_s=0.01)], name="base", seed=1)
    b = make_run(db, [dict(depth=0, conc=1, n=10, ttft_s=0.05, itl_s=itl_b)], name="new", seed=2)
    return db, a, b


def test_json_rows_and_verdicts(tmp_path, capsys):
    db, a, b = _runs(tmp_path)
    # The shortest prefix of a that b does not share (runs made in one second share 16 characters).
    prefix = next(a[:k] for k in range(16, len(a) + 1) if not b.startswith(a[:k]))
    assert main(["compare", prefix, "new", "--db", str(db), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["run_a"], doc["run_b"], doc["method"]) == (a, b, "welch_t_95")
    dec = next(r for r in doc["rows"] if r["metric"] == "decode_tps_per_stream")
    assert dec["verdict"] == "slower" and -23 < dec["diff_pct"] < -17
    assert doc["regressions"] == []


def test_fail_on_regression_exit_code(tmp_path, capsys):
    db, a, b = _runs(tmp_path)
    assert main(["compare", "base", "new", "--db", str(db), "--fail-on-regression", "10"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION: decode_tps_per_stream" in out and "slower" in out
    assert main(["compare", "base", "new", "--db", str(db), "--fail-on-regression", "50"]) == 0
    # B faster than A is never a regression.
    assert main(["compare", "new", "base", "--db", str(db), "--fail-on-regression", "1"]) == 0
    assert "faster" in capsys.readouterr().out


def test_same_speed_is_no_significant_difference(tmp_path, capsys):
    db, a, b = _runs(tmp_path, itl_b=0.01)
    assert main(["compare", "base", "new", "--db", str(db), "--json", "--fail-on-regression", "0"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {r["verdict"] for r in rows} == {"no significant difference"}


def test_bad_input(tmp_path, capsys):
    db, a, b = _runs(tmp_path)
    assert main(["compare", "bsae", "new", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "base" in err
    assert main(["compare", "base", "new", "--db", str(db), "--fail-on-regression", "-3"]) == 2
    other = make_run(db, [dict(depth=4096, conc=8, n=3, ttft_s=0.05, itl_s=0.01)], name="other")
    assert main(["compare", "base", other, "--db", str(db)]) == 2
    assert "share no sweep point" in capsys.readouterr().err
