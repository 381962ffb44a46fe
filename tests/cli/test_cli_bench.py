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
    # The report names what was measured: model, quant and this host (not "?" or "None"), with the
    # planner's estimate (the host's measured hardware is stored with the run) and goodput.
    env = {**os.environ, "TOKBENCH_DB": str(db)}
    rep = subprocess.run([sys.executable, "-m", "tokbench.cli.main", "report", "--run", doc["run_id"], "--format", "md"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0, rep.stderr
    rows = [line for line in rep.stdout.splitlines() if "| tiny" in line]  # the file's name without .gguf
    assert rows and not any("| None |" in line or "| ? |" in line for line in rows), rows
    assert any("Q8\\_0" in line and "host:" in line and " E[^" in line for line in rows), rows  # estimate beside it
    assert "Goodput" in rep.stdout and "100%" in rep.stdout


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
           "--requests", "1", "--threads", "1", "--hardware", "m3-ultra-80c", "--json", db=db)
    assert r.returncode == 0, r.stderr
    with open_store(db) as store:
        info = store.get_run(json.loads(r.stdout)["run_id"])
    # reports and `tokbench validate` read the stored identity (tokbench.report.runs.run_identity)
    ident = info.config["identity"]
    assert ident["hardware_id"] == "m3-ultra-80c" and ident["quant"] == "Q8_0"
    assert ident["engine"] == ident["bench_engine"] == "llama.cpp" and ident["engine_version"].startswith("llama-cpp-python")
    assert ident["topology"] == {"nodes": 1, "gpus": 0, "split": None, "link": None, "hardware": None, "detail": None}


def test_suite_is_one_job_that_resume_finishes_whole(tiny, tmp_path):
    import shutil

    other = tmp_path / "tiny2.gguf"
    shutil.copy(tiny, other)
    suite = tmp_path / "two.toml"
    suite.write_text(f"""
[suite]
name = "two-models"
[[models]]
path = "{tiny}"
[[models]]
path = "{other}"
[[workloads]]
kind = "sweep"
concurrency = [1]
context_depth = 16
gen_tokens = 1500
requests = 6
warmup = 0
""")
    # 1500 tokens a request: the suite must still be running when the test's Ctrl-C comes (with 300 on a quiet
    # machine it had finished both models by then, and a Ctrl-C after the last request rightly exits 0)
    db = tmp_path / "s.db"
    env = {**os.environ, "TOKBENCH_DB": str(db)}
    proc = subprocess.Popen([sys.executable, "-m", "tokbench.cli.main", "bench", "--suite", str(suite), "--threads", "1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if db.exists():
            with open_store(db) as store:
                runs = store.list_runs()
                if runs and len(store.records(runs[0].id)) >= 2:
                    break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    suite_id = next(line.split()[2].rstrip(":") for line in err.splitlines() if line.startswith("tokbench: suite "))
    assert suite_id.startswith("two-models-") and f"suite {suite_id}" in out  # visible without --json
    with open_store(db) as store:
        (first,) = store.list_runs(suite_id=suite_id)  # the second model never started
        assert first.status == "interrupted"
    r = tb("--resume", suite_id, "--json", db=db, timeout=180)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["suite_id"] == suite_id and doc["status"] == "complete" and len(doc["runs"]) == 2
    with open_store(db) as store:
        runs = store.list_runs(suite_id=suite_id)
        assert {x.status for x in runs} == {"complete"} and len(runs) == 2
        assert {x.id for x in runs} >= {first.id}  # the interrupted run was finished, not redone
        for x in runs:
            assert sum(rec.status == "ok" for rec in store.records(x.id)) == 6
    listing = subprocess.run([sys.executable, "-m", "tokbench.cli.main", "runs"], env={**env, "COLUMNS": "200"},
                             capture_output=True, text=True, timeout=60)
    assert suite_id in listing.stdout and "tiny2.gguf" in listing.stdout and "Q8_0" in listing.stdout


def test_endpoint_with_hardware_reaches_the_planner(tiny, tmp_path):
    from tokbench.engines.servers import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(tiny), "--host", "127.0.0.1",
                               "--port", str(port), "--n_ctx", "1024", "--n_threads", "1", "--verbose", "False"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                import urllib.request

                urllib.request.urlopen(f"{url}/models", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        r = tb("--endpoint", url, "--hardware", "m3-ultra-80c", "--concurrency", "1", "--requests", "2",
               "--context-depth", "32", "--gen-tokens", "8", "--json", db=tmp_path / "e.db")
    finally:
        server.terminate()
        server.wait(10)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    ident = doc["identity"]
    assert ident["hardware_id"] == "m3-ultra-80c" and ident["engine"] == "llama.cpp-server"
    assert ident["bench_engine"] == "openai" and ident["server"] == "llama-cpp-python"
    assert ident["quant"] == "Q8_0" and ident["topology"]["gpus"] is None  # a server elsewhere: unknown
    assert doc["planner_note"] is None and doc["plan"]["hardware"].startswith("m3-ultra-80c")
    assert all(row["plan"]["decode_tps"] > 0 for row in doc["results"])


@pytest.mark.parametrize("args,needle", [
    (["--engine", "mlx", "--concurrency", "8"], "use --concurrency 1"),
    (["--engine", "vllm"], "needs --endpoint"),
    (["--engine", "llama.cpp", "--endpoint", "http://127.0.0.1:9/v1"], "--endpoint is for a server you run"),
])
def test_engine_mistakes_say_what_works(args, needle, tmp_path):
    r = tb(*args, db=tmp_path / "t.db")
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_help_states_every_default():
    r = subprocess.run([sys.executable, "-m", "tokbench.cli.main", "bench", "--help"], capture_output=True, text=True,
                       env={**os.environ, "COLUMNS": "100"})
    entries, current = {}, None
    for line in r.stdout.split("options:", 1)[1].splitlines():
        if line.startswith("  -"):
            current = line.split()[0].split(",")[0]
            entries[current] = line
        elif current and line.startswith("   "):
            entries[current] += " " + line.strip()
        else:
            current = None
    skip = {"-h", "--json", "--resume", "--db"}  # actions or where the data goes, not settings
    missing = [flag for flag, text in entries.items() if flag not in skip and "default" not in text]
    assert len(entries) > 30 and not missing, missing
