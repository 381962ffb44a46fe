"""`tokbench runs` (and one-line errors on a corrupt database) in process."""

from __future__ import annotations

import json
from pathlib import Path


from tb_cli_store import run_cli, seed


FIX = Path(__file__).parents[1] / "store" / "fixtures"


def test_runs_empty_does_not_create_db(db, capsys):
    code, out, _ = run_cli(capsys, "runs", "--json")
    assert code == 0 and json.loads(out)["runs"] == [] and not db.exists()
    code, out, _ = run_cli(capsys, "runs")
    assert "no runs" in out


def test_runs_lists_counts(db, capsys):
    run = seed(db)
    code, out, _ = run_cli(capsys, "runs", "--json")
    (row,) = json.loads(out)["runs"]
    assert code == 0 and row["id"] == run and (row["requests"], row["ok"], row["errors"]) == (3, 2, 1)
    assert row["status"] == "complete" and row["stale"] is False
    code, out, _ = run_cli(capsys, "runs", "--db", str(db), "--limit", "1")
    assert run in out and "complete" in out
    code, _, err = run_cli(capsys, "runs", "--limit", "0")
    assert code == 2 and err.count("\n") == 1


def test_corrupt_db_one_line(db, capsys):
    db.write_bytes(b"garbage" * 100)
    for argv in (["runs"], ["db", "check"], ["export", "x"], ["import", str(FIX / "vllm_serve.json")]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and "untouched" in err, argv
    assert db.read_bytes() == b"garbage" * 100
