"""`tokbench import` and `tokbench export` in process."""

from __future__ import annotations

import csv
import io
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


def test_import_then_export(db, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "import", str(FIX / "llama_bench.json"), "--json", "--name", "lb")
    doc = json.loads(out)
    assert code == 0 and doc["format"] == "llama-bench" and len(doc["results"]) == 3
    code, out, _ = run_cli(capsys, "export", "lb")
    exported = json.loads(out)
    assert exported["run"]["id"] == doc["run_id"] and exported["run"]["config"]["source"]["format"] == "llama-bench"
    out_path = tmp_path / "s.csv"
    code, _, err = run_cli(capsys, "export", doc["run_id"][:-1], "--format", "csv", "--out", str(out_path))
    rows = list(csv.DictReader(io.StringIO(out_path.read_text())))
    assert code == 0 and [r["point"] for r in rows] == ["pp512", "tg128", "tg128 @ d4096"]


def test_export_records_csv_and_errors(db, capsys):
    run = seed(db)
    code, out, _ = run_cli(capsys, "export", run, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 3 and json.loads(rows[1]["token_times"]) == [1.1, 1.2, 1.3, 1.4]
    code, _, err = run_cli(capsys, "export", run[:-2] + "zz")
    assert code == 2 and "did you mean" in err
    code, _, err = run_cli(capsys, "export", run, "--table", "summary")
    assert code == 2 and "--format csv" in err


def test_import_bad_file(db, tmp_path, capsys):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"hello": 1}))
    code, _, err = run_cli(capsys, "import", str(bad))
    assert code == 2 and "--format" in err and not db.exists()
