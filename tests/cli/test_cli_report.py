"""`tokbench report`: formats, output file, run selection and bad input."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))  # shared stored-run helper

from tb_report_runs import make_run  # noqa: E402
from tokbench.cli.main import main  # noqa: E402


def _db(tmp_path):
    db = tmp_path / "r.db"
    a = make_run(db, [dict(depth=0, conc=1, n=4, ttft_s=0.02, itl_s=0.003)], name="first")
    b = make_run(db, [dict(depth=0, conc=1, n=4, ttft_s=0.02, itl_s=0.004)], name="second")
    return db, a, b


def test_json_document_of_selected_run(tmp_path, capsys):
    db, a, b = _db(tmp_path)
    assert main(["report", "--db", str(db), "--run", "second", "--format", "json", "--no-reference"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "tokbench.report" and doc["schema_version"] == 1
    assert [r["id"] for r in doc["runs"]] == [b]
    assert doc["reference_rows"] == []


def test_md_default_and_out_suffix_picks_format(tmp_path, capsys):
    db, a, b = _db(tmp_path)
    assert main(["report", "--db", str(db)]) == 0
    md = capsys.readouterr().out
    assert md.startswith("# tokbench report") and a in md and b in md
    out = tmp_path / "r.html"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert "wrote" in capsys.readouterr().err


def test_no_database_gives_reference_report_without_creating_one(tmp_path, capsys):
    db = tmp_path / "none.db"
    assert main(["report", "--db", str(db), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["runs"] == [] and doc["reference_rows"]
    assert not db.exists()


def test_unknown_run_names_close_matches(tmp_path, capsys):
    db, a, b = _db(tmp_path)
    assert main(["report", "--db", str(db), "--run", "secnd"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "second" in err


def test_corrupt_and_newer_databases_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    assert main(["report", "--db", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a tokbench database" in err
    assert bad.read_bytes() == b"this is not sqlite" * 100  # left untouched
    db, _, _ = _db(tmp_path)
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 999")
    con.commit()
    con.close()
    assert main(["report", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "newer tokbench" in err


def test_unwritable_out_is_one_line(tmp_path, capsys):
    db, _, _ = _db(tmp_path)
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "no" / "dir" / "r.md")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.splitlines()) == 1
    (tmp_path / "ro").mkdir(mode=0o500)
    if os.access(tmp_path / "ro", os.W_OK):
        return  # root ignores directory permissions
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "ro" / "r.md")]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and len(err.splitlines()) == 1
