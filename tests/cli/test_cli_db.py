"""`tokbench db path|check|backup` in process."""

from __future__ import annotations

import json


from tb_cli_store import run_cli, seed

from tokbench.store import open_store

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


def test_db_on_a_directory_is_one_line(tmp_path, capsys):
    """Found by tests/fuzz/test_fuzz_cli_hypothesis.py: `db check --db DIR` was an IsADirectoryError."""
    for action in ("check", "backup"):
        code, _, err = run_cli(capsys, "db", action, "--db", str(tmp_path))
        assert code == 2 and len(err.strip().splitlines()) == 1 and "is a directory" in err
