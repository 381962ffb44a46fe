"""`tokbench import` and `tokbench export` in process."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path


from tb_cli_store import run_cli, seed


FIX = Path(__file__).parents[1] / "store" / "fixtures"


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
