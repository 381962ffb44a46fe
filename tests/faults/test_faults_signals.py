"""Interrupting a real ``tokbench bench`` process mid-sweep (against the fault server on loopback).

SIGINT / SIGTERM: the process exits within 5 s with 130, the run is marked interrupted, every
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
    assert exit_s < 5.0 and proc.returncode == 130, (exit_s, proc.returncode, err.decode()[-1500:])
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
