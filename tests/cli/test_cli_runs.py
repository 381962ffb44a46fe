"""`tokbench runs` (and one-line errors on a corrupt database) in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokbench.cli.main import main
from tokbench.records import RequestRecord
from tokbench.store import open_store

FIX = Path(__file__).parents[1] / "store" / "fixtures"


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "cli.db"
    monkeypatch.setenv("TOKBENCH_DB", str(path))
    return path


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def seed(path) -> str:
    with open_store(path) as s:
        run = s.create_run("bench", {"engine": "llama.cpp"}, {}, name="seeded")
        s.add_records(run, [RequestRecord(point="c=1 d=0", index=i, concurrency=1, context_depth=0, prompt_tokens=8,
                                          gen_tokens_requested=4, t_start=float(i), t_first_token=i + 0.1,
                                          t_end=i + 0.4, token_times=[i + 0.1, i + 0.2, i + 0.3, i + 0.4],
                                          output_tokens=4, status="ok" if i else "error") for i in range(3)])
        s.finish_run(run, "complete")
    return run


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
