"""Interrupting a real ``tokbench bench`` process mid-sweep (against the fault server on loopback).

SIGINT / SIGTERM: the process exits within 1 s with 130 in every phase (preflight, a launched
server's start, prompt counting, measurement, agent sessions), the run is marked interrupted, every
request that ended is in the database, and ``--resume RUN_ID`` runs exactly what was left.
SIGKILL: the database passes ``PRAGMA integrity_check`` and holds every request it had
acknowledged before the kill, and at most the requests then in flight are missing.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tb_fault_server import FaultServer
from tokbench.store import open_store

REQUESTS, CONCURRENCY = 10, (1, 2)
LIMIT_S = 1.0  # Ctrl-C / SIGTERM end the command within a second, in every phase
ARGS = ["--concurrency", ",".join(map(str, CONCURRENCY)), "--requests", str(REQUESTS), "--context-depth", "8",
        "--gen-tokens", "5", "--warmup", "0", "--json"]


def _count(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM requests").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0  # not created yet


def _start(server: FaultServer, db: Path, tmp: Path) -> subprocess.Popen:
    env = {**os.environ, "TOKBENCH_DB": str(db), "HOME": str(tmp)}
    return subprocess.Popen([sys.executable, "-m", "tokbench", "bench", "--endpoint", server.url, *ARGS],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp)


def _wait_records(proc: subprocess.Popen, db: Path, n: int, limit: float = 60) -> int:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        got = _count(db)
        if got >= n:
            return got
        time.sleep(0.02)
    raise AssertionError(f"fewer than {n} records after {limit} s")


@pytest.fixture()
def server():
    with FaultServer(token_delay=0.03) as srv:  # ~0.15 s per request: a sweep of a few seconds
        yield srv


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_commits_marks_interrupted_and_resumes(server, tmp_path, sig):
    db = tmp_path / "s.db"
    proc = _start(server, db, tmp_path)
    try:
        seen = _wait_records(proc, db, 3)
        t0 = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
        exit_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert exit_s < LIMIT_S and proc.returncode == 130, (exit_s, proc.returncode, err.decode()[-1500:])
    assert b"Traceback" not in err
    doc = json.loads(out)
    assert doc["status"] == "interrupted"
    with open_store(db) as store:
        run = store.get_run(doc["run_id"])
        recs = store.records(run.id)
    assert run.status == "interrupted" and not run.stale
    assert len(recs) >= seen and run.requests == len(recs)
    ok = sum(r.status == "ok" for r in recs)
    # Every stream the server finished is an ok record, bar one cancelled in the very last moment.
    assert server.completed - 1 - max(CONCURRENCY) <= ok <= server.completed - 1  # -1: the preflight
    assert all(r.status in ("ok", "incomplete") for r in recs), {r.error_class for r in recs}

    env = {**os.environ, "TOKBENCH_DB": str(db), "HOME": str(tmp_path)}
    res = subprocess.run([sys.executable, "-m", "tokbench", "bench", "--resume", run.id[:12], "--json"],
                         capture_output=True, env=env, cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr.decode()[-1500:]
    assert json.loads(res.stdout)["status"] == "complete"
    with open_store(db) as store:
        assert store.get_run(run.id).status == "complete"
        final = store.records(run.id)
    for c in CONCURRENCY:
        mine = [r for r in final if r.concurrency == c]
        assert sum(r.status == "ok" for r in mine) == REQUESTS, (c, [(r.index, r.status) for r in mine])
    assert len({r.index for r in final}) == len(final)  # resumed requests got new indices


def test_sigkill_keeps_a_sound_database(server, tmp_path):
    db = tmp_path / "k.db"
    proc = _start(server, db, tmp_path)
    try:
        _wait_records(proc, db, 4)
        acknowledged = _count(db)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with open_store(db) as store:
        (run,) = store.list_runs()
        recs = store.records(run.id, include_warmup=True)
    assert len(recs) >= acknowledged
    ok = sum(r.status == "ok" for r in recs)
    # Lost at most the requests in flight at the kill (their streams may have ended on the server).
    assert server.completed - 1 - max(CONCURRENCY) <= ok <= server.completed - 1
    assert run.status == "running" and run.stale  # shown as stale, never as complete

    # A killed run can be resumed like an interrupted one.
    env = {**os.environ, "TOKBENCH_DB": str(db), "HOME": str(tmp_path)}
    res = subprocess.run([sys.executable, "-m", "tokbench", "bench", "--resume", run.id, "--json"],
                         capture_output=True, env=env, cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr.decode()[-1500:]
    with open_store(db) as store:
        final = store.records(run.id)
        assert store.get_run(run.id).status == "complete"
    for c in CONCURRENCY:
        assert sum(r.status == "ok" and r.concurrency == c for r in final) == REQUESTS


def test_resume_refuses_a_live_run(server, tmp_path):
    db = tmp_path / "live.db"
    proc = _start(server, db, tmp_path)
    try:
        _wait_records(proc, db, 2)
        with open_store(db) as store:
            (run,) = store.list_runs()
        env = {**os.environ, "TOKBENCH_DB": str(db), "HOME": str(tmp_path)}
        res = subprocess.run([sys.executable, "-m", "tokbench", "bench", "--resume", run.id], capture_output=True,
                             env=env, cwd=tmp_path, timeout=60)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert res.returncode == 2 and b"still running" in res.stderr, res.stderr.decode()[-800:]


# ---- Ctrl-C in every phase: the process ends within a second, the run (if any) is interrupted ----


def _bench(db: Path, tmp: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "TOKBENCH_DB": str(db), "HOME": str(tmp)}
    env.pop("TOKBENCH_API_KEY", None)
    return subprocess.Popen([sys.executable, "-m", "tokbench", "bench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=tmp)


def _interrupt_when(proc: subprocess.Popen, ready, limit: float = 90) -> tuple[float, bytes, bytes]:
    """Wait until ``ready()``, send SIGINT, return (seconds to exit, stdout, stderr)."""
    deadline = time.monotonic() + limit
    while not ready():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "phase never reached"
        time.sleep(0.02)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return time.monotonic() - t0, out, err


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, ValueError, IndexError):
                pass
    return out


def test_ctrl_c_in_preflight_of_an_endpoint(tmp_path):
    with FaultServer(models_delay=30) as srv:
        proc = _bench(tmp_path / "p.db", tmp_path, "--endpoint", srv.url, *ARGS)
        exit_s, out, err = _interrupt_when(proc, lambda: srv.models_calls >= 1)
    assert exit_s < LIMIT_S and proc.returncode == 130, (exit_s, err.decode()[-800:])
    assert b"Traceback" not in err and json.loads(out)["runs"] == []  # nothing began: nothing stored


@pytest.mark.engine
def test_ctrl_c_while_a_launched_server_starts(tmp_path):
    sys.path.insert(0, str(Path(__file__).parents[1] / "engines"))
    from tb_tiny_models import tiny_gguf

    model = tiny_gguf(tmp_path / "tiny.gguf")
    proc = _bench(tmp_path / "s.db", tmp_path, "--engine", "llama.cpp-server", "--model", str(model), *ARGS)
    servers: list[int] = []

    def started() -> bool:  # the llama_cpp.server child exists and has not answered yet
        servers[:] = _children(proc.pid)
        return bool(servers)

    exit_s, out, err = _interrupt_when(proc, started)
    assert exit_s < LIMIT_S and proc.returncode == 130, (exit_s, err.decode()[-800:])
    time.sleep(0.2)
    assert not [p for p in servers if Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text().split(")")[1][:3]]


def test_ctrl_c_while_prompts_are_counted_then_resume(tmp_path):
    db = tmp_path / "c.db"
    with FaultServer(tokenize_delay=0.4) as srv:
        proc = _bench(db, tmp_path, "--endpoint", srv.url, "--concurrency", "2", "--requests", "4",
                      "--context-depth", "300", "--gen-tokens", "4", "--warmup", "0", "--json")
        exit_s, out, err = _interrupt_when(proc, lambda: srv.tokenize_calls >= 3 and _count_runs(db) >= 1)
        assert exit_s < LIMIT_S and proc.returncode == 130, (exit_s, err.decode()[-800:])
        doc = json.loads(out)
        assert doc["status"] == "interrupted" and b"Traceback" not in err
        with open_store(db) as store:
            assert store.get_run(doc["run_id"]).status == "interrupted"
        srv.tokenize_delay = 0.0
        env = {**os.environ, "TOKBENCH_DB": str(db), "HOME": str(tmp_path)}
        res = subprocess.run([sys.executable, "-m", "tokbench", "bench", "--resume", doc["run_id"], "--json"],
                             capture_output=True, env=env, cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr.decode()[-800:]
    with open_store(db) as store:
        assert store.get_run(doc["run_id"]).status == "complete"
        assert sum(r.status == "ok" for r in store.records(doc["run_id"])) == 4


def _count_runs(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def test_ctrl_c_during_measurement_within_a_second(server, tmp_path):
    db = tmp_path / "m.db"
    proc = _start(server, db, tmp_path)
    exit_s, out, err = _interrupt_when(proc, lambda: _count(db) >= 3)
    assert exit_s < LIMIT_S and proc.returncode == 130, (exit_s, err.decode()[-800:])
    assert json.loads(out)["status"] == "interrupted"


def test_ctrl_c_during_an_agent_session(tmp_path):
    db = tmp_path / "a.db"
    with FaultServer(token_delay=0.02) as srv:
        proc = _bench(db, tmp_path, "--workload", "agents", "--endpoint", srv.url, "--turns", "3", "--subagents", "2",
                      "--system-tokens", "64", "--user-tokens", "16", "--gen-tokens", "40", "--sub-system-tokens", "0",
                      "--sub-prompt-tokens", "16", "--sub-gen-tokens", "40", "--prefix-cache", "off", "--json")
        exit_s, out, err = _interrupt_when(proc, lambda: _count(db) >= 3)
    assert exit_s < LIMIT_S and proc.returncode == 130, (exit_s, err.decode()[-800:])
    doc = json.loads(out)
    with open_store(db) as store:
        run = store.get_run(doc["run_id"])
        recs = store.records(run.id)
    assert run.status == "interrupted" and any(r.role in ("main", "sub") for r in recs)
