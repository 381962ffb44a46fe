"""`tokbench import` and `tokbench export` in process."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


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


H200 = FIX / "llama-bench-h200.jsonl"


def test_import_h200_file_identified_and_validated(db, capsys):
    code, out, err = run_cli(capsys, "import", str(H200), "--json", "--name", "h200")
    doc = json.loads(out)
    assert code == 0 and len(doc["runs"]) == 12 and sum(r["points"] for r in doc["runs"]) == 48
    assert all(r["not_identified"] == [] and r["identity"]["hardware_id"] == "h200" for r in doc["runs"])
    names = {r["identity"]["model_id"] + ":" + r["identity"]["quant"] for r in doc["runs"]}
    assert "gpt-oss-120b:MXFP4_MOE" in names and "llama-3.1-8b:F16" in names
    ids = [r["run_id"] for r in doc["runs"]]
    code, out, _ = run_cli(capsys, "validate", "--json", *[a for i in ids for a in ("--run", i)])
    rows = [r for r in json.loads(out)["rows"] if r["role"] == "imported"]
    assert code == 0 and {r["hardware"] for r in rows} == {"h200"}
    for metric in ("decode_tps", "prefill_tps"):
        mine = [r for r in rows if r["metric"] == metric]
        assert len(mine) == 24 and {r["run_id"] for r in mine} == set(ids)
        assert {r["label"] for r in mine} == {"imported (llama-bench)"} and all(H200.name in r["source"] for r in mine)
    # llama-bench's tests at their mean depth, as the H200 predictions were made: tg128 @ d4096 -> 4160,
    # pp512 @ d4096 -> 4352 (benchmarks/gpu/preregister.py)
    assert {r["context"] for r in rows if r["metric"] == "decode_tps"} == {64, 4160}
    assert {r["context"] for r in rows if r["metric"] == "prefill_tps"} == {256, 4352}
    code, out, _ = run_cli(capsys, "validate", "--run", ids[0])
    assert code == 0 and "imported n=4" in out and "imported (llama-bench)" in out


def test_import_says_what_it_could_not_identify(db, tmp_path, capsys):
    rows = [json.loads(x) for x in H200.read_text().splitlines()[:2]]
    path = tmp_path / "odd.jsonl"
    path.write_text("".join(json.dumps({**r, "model_n_params": 7, "gpu_info": "NVIDIA Tesla K80"}) + "\n" for r in rows))
    code, out, err = run_cli(capsys, "import", str(path))
    assert code == 0 and "1 run(s), 2 points" in out
    (line,) = err.strip().splitlines()
    assert line.startswith("not identified (2):") and "--model" in line and "Tesla K80" in line
    code, _, err = run_cli(capsys, "import", str(path), "--model", "llama-3.1-8x")
    assert code == 2 and "did you mean" in err
    code, out, err = run_cli(capsys, "import", str(path), "--model", "llama-3.1-8b:Q4_K_M", "--hardware", "rtx-4090")
    assert code == 0 and err == "" and "llama-3.1-8b" in out and "rtx-4090" in out


@pytest.mark.engine
def test_measured_run_round_trips(tmp_path, capsys):
    """A real `tokbench bench` run (in-process llama.cpp on a tiny synthetic GGUF), exported and imported."""
    from tokbench.modelspec.model import ModelSpec
    from tokbench.store import open_store
    from tokbench.synth import synthesize

    spec = ModelSpec(name="tiny-rt", arch="llama", n_layers=2, hidden=64, n_heads=4, n_kv_heads=2, head_dim=16,
                     vocab=512, intermediate=128, context_length=4096, source="test")
    model = synthesize(spec, "Q8_0", tmp_path / "tiny.gguf", vocab=512)
    db, db2 = tmp_path / "a.db", tmp_path / "b.db"
    env = {**os.environ, "TOKBENCH_DB": str(db)}
    r = subprocess.run([sys.executable, "-m", "tokbench.cli.main", "bench", "--model", str(model), "--context-depth",
                        "32", "--gen-tokens", "4", "--concurrency", "1", "--requests", "2", "--threads", "1",
                        "--hardware", "m3-ultra-80c", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    run = json.loads(r.stdout)["run_id"]
    out = tmp_path / "run.json"
    assert run_cli(capsys, "--db", str(db), "export", run, "--out", str(out))[0] == 0
    code, text, _ = run_cli(capsys, "--db", str(db2), "import", str(out), "--json")
    again = json.loads(text)["run_id"]
    assert code == 0
    with open_store(db) as a, open_store(db2) as b:
        ia, ib = a.get_run(run), b.get_run(again)
        assert ib.config["identity"] == ia.config["identity"] and ib.config["identity"]["quant"] == "Q8_0"
        assert (ib.kind, ib.status, ib.environment) == (ia.kind, ia.status, ia.environment)
        assert b.point_meta(again) == a.point_meta(run)
        ra, rb = a.records(run, include_warmup=True), b.records(again, include_warmup=True)
        assert len(ra) >= 2 and [x.to_dict() for x in rb] == [x.to_dict() for x in ra]
    from tokbench.store.export import run_summaries

    with open_store(db) as a, open_store(db2) as b:
        assert run_summaries(b, again) == run_summaries(a, run)
