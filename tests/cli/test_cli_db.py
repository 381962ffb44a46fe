"""`tokbench db path|check|backup` in process."""

from __future__ import annotations

import json

import pytest

from tokbench.cli.main import main
from tokbench.records import RequestRecord
from tokbench.store import open_store

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


def test_db_commands(db, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "db", "path")
    assert out.strip() == str(db)
    code, _, err = run_cli(capsys, "db", "check")
    assert code == 2 and "no database" in err
    seed(db)
    code, out, _ = run_cli(capsys, "db", "check", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["counts"]["requests"] == 3
    dest = tmp_path / "copy.db"
    code, out, _ = run_cli(capsys, "db", "backup", "--out", str(dest), "--json")
    assert code == 0 and json.loads(out)["backup"] == str(dest)
    with open_store(dest) as s:
        assert len(s.list_runs()) == 1
    code, _, err = run_cli(capsys, "db", "backup", "--out", str(dest))
    assert code == 2 and "exists" in err
