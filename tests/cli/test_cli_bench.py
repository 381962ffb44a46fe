"""`tokbench bench` end to end, for real: in-process llama.cpp on a tiny synthetic GGUF, the store,
JSON output, bad input, Ctrl-C and --resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tokbench.store import open_store

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tokbench.modelspec.model import ModelSpec
    from tokbench.synth import synthesize

    spec = ModelSpec(name="tiny-cli", arch="llama", n_layers=2, hidden=64, n_heads=4, n_kv_heads=2, head_dim=16,
                     vocab=512, intermediate=128, context_length=8192, source="test")
    return synthesize(spec, "Q8_0", tmp_path_factory.mktemp("m") / "tiny.gguf", vocab=512)


def tb(*args, db, timeout=120, **kw):
    env = {**os.environ, "TOKBENCH_DB": str(db)}
    env.pop("TOKBENCH_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "tokbench.cli.main", "bench", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, **kw)


def test_sweep_json_and_store(tiny, tmp_path):
    db = tmp_path / "t.db"
    r = tb("--model", str(tiny), "--context-depth", "64", "--gen-tokens", "8", "--concurrency", "1,4",
           "--requests", "4", "--threads", "1", "--slo", "ttft_ms=10000", "--json", db=db)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = doc["results"]
    assert [row["concurrency"] for row in rows] == [1, 4]
    for row in rows:
        assert row["requests"] == row["ok"] == 4 and row["errors"] == 0
        assert row["output_tokens"] == 32 and row["context_depth"] == 64
        for k in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"):
            assert set(row[k]) >= {"p50", "p90", "p99", "mean"}
        assert row["decode_tps_per_stream"]["mean"] > 0 and row["aggregate_output_tps"] > 0
        assert row["goodput"]["good"] == 4
    with open_store(db) as store:
        info = store.get_run(doc["run_id"])
        assert info.status == "complete"
        assert info.environment["model"]["file"] == "tiny.gguf"
        assert len(info.environment["model"]["header_sha256"]) == 64
        assert len(store.records(doc["run_id"])) == 8
        assert len(store.records(doc["run_id"], include_warmup=True)) == 10


def test_single_stream_table(tiny, tmp_path):
    r = tb("--model", str(tiny), "--context-depth", "128", "--gen-tokens", "16", "--repetitions", "3",
           "--threads", "1", db=tmp_path / "t.db")
    assert r.returncode == 0, r.stderr
    assert "Single stream" in r.stdout and "Concurrency" in r.stdout  # default workloads: single + sweep


@pytest.mark.parametrize("args,needle", [
    (["--endpoint", "http://127.0.0.1:9/v1", "--model", "x"], "cannot reach"),
    (["--engine", "llama.cp"], "did you mean"),
    (["--model", "/nonexistent/model.gguf"], "model not found"),
    (["--concurrency", "0"], "--concurrency"),
    (["--slo", "ttft=5"], "SLO metric"),
])
def test_bad_input_is_one_line_exit_2(args, needle, tmp_path):
    r = tb(*args, db=tmp_path / "t.db")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]


def test_ctrl_c_saves_then_resume_finishes(tiny, tmp_path):
    db = tmp_path / "t.db"
    env = {**os.environ, "TOKBENCH_DB": str(db)}
    args = [sys.executable, "-m", "tokbench.cli.main", "bench", "--model", str(tiny), "--context-depth", "32",
            "--gen-tokens", "300", "--concurrency", "2", "--requests", "12", "--threads", "1", "--json"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until some requests are stored
        time.sleep(0.2)
        if db.exists():
            with open_store(db) as store:
                runs = store.list_runs()
                if runs and len(store.records(runs[0].id)) >= 2:
                    break
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - t0 < 1.0  # Ctrl-C ends the command within a second
    assert proc.returncode == 130, err
    run_id = json.loads(out)["run_id"]
    with open_store(db) as store:
        assert store.get_run(run_id).status == "interrupted"
        recs = store.records(run_id)
        assert any(r.status == "incomplete" and r.error_class == "interrupted" for r in recs)
        done_before = sum(r.status == "ok" for r in recs)
    r = tb("--resume", run_id[:12], "--json", db=db)
    assert r.returncode == 0, r.stderr
    with open_store(db) as store:
        assert store.get_run(run_id).status == "complete"
        assert sum(r.status == "ok" for r in store.records(run_id)) == 12 >= done_before


@pytest.mark.slow
def test_default_bench_under_a_minute(tmp_path):
    """The main job: `tokbench bench` with no arguments (slow: ~20 s on 2 cores; it is the product)."""
    t0 = time.monotonic()
    r = tb("--json", db=tmp_path / "t.db", timeout=120)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 60
    rows = json.loads(r.stdout)["results"]
    assert {(row["point"], row["ok"]) for row in rows} == {("single d=1024", 3), ("c=1 d=256", 2), ("c=8 d=256", 16)}


def test_run_records_hardware_and_the_files_quant_for_reports(tiny, tmp_path):
    db = tmp_path / "id.db"
    r = tb("--model", str(tiny), "--context-depth", "32", "--gen-tokens", "4", "--concurrency", "1",
           "--requests", "1", "--threads", "1", "--hardware", "m3-ultra", "--json", db=db)
    assert r.returncode == 0, r.stderr
    with open_store(db) as store:
        info = store.get_run(json.loads(r.stdout)["run_id"])
    # reports and `tokbench validate` read the stored identity (tokbench.report.runs.run_identity)
    ident = info.config["identity"]
    assert ident["hardware_id"] == "m3-ultra-80c" and ident["quant"] == "Q8_0"
    assert ident["engine"] == ident["bench_engine"] == "llama.cpp" and ident["engine_version"].startswith("llama-cpp-python")
    assert ident["topology"] == {"nodes": 1, "gpus": 0, "split": None, "link": None}
