"""`tokbench validate`: table and JSON of the planner's errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))  # shared stored-run helper

from tb_report_runs import make_run  # noqa: E402
from tokbench.cli.main import main  # noqa: E402

KEYS = {"model", "quant", "hardware", "engine", "context", "measured_tps", "estimated_tps", "error_pct", "source"}


def test_json_shape_with_a_stored_run(tmp_path, capsys):
    db = tmp_path / "v.db"
    run = make_run(db, [dict(depth=0, conc=1, n=4, ttft_s=0.01, itl_s=0.0025)])
    assert main(["validate", "--json", "--db", str(db)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"rows", "cluster_rows", "summary"}
    assert all(KEYS <= set(r) for r in doc["rows"] + doc["cluster_rows"])
    assert doc["cluster_rows"] and all(r["role"] == "reference" and r["topology"] for r in doc["cluster_rows"])
    assert any(r["source"] == f"run {run}" for r in doc["rows"])
    s = doc["summary"]
    assert {"all", "by_engine", "by_hardware_family", "skipped", "clusters"} <= set(s)
    assert s["all"]["n"] == len(doc["rows"])


def test_table_without_database(tmp_path, capsys):
    db = tmp_path / "none.db"
    assert main(["validate", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "MAPE" in out and "hardware_family" in out and "llama-2-7b" in out
    assert not db.exists()


def test_unknown_run(tmp_path, capsys):
    db = tmp_path / "v.db"
    make_run(db, [dict(depth=0, conc=1, n=2, ttft_s=0.01, itl_s=0.0025)], name="alpha")
    assert main(["validate", "--db", str(db), "--run", "alpah"]) == 2
    assert "alpha" in capsys.readouterr().err


def test_holdout_by_machine_checks_prompt_rows_too(capsys):
    # MLX on an M4 Max has prompt rows and no decode row: by machine, its prompt rows are predicted by a
    # prefill fit without them, against the prefill band; the text report does not need a decode row.
    assert main(["validate", "--holdout", "machine", "--group", "m4-max", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["predictions"] == []
    pre = doc["prefill"]["predictions"]
    assert pre and {p["hardware_id"] for p in pre} == {"m4-max"} and all(p["group"].startswith("machine m4-max") for p in pre)
    assert doc["prefill"]["summary"]["all"]["n"] == len(pre) and "inside_band_pct" in doc["prefill"]["summary"]["all"]
    assert main(["validate", "--holdout", "machine", "--group", "m4-max"]) == 0
    assert f"Prefill (prompt tok/s), each machine's rows predicted by a fit without them: n={len(pre)}" in capsys.readouterr().out
