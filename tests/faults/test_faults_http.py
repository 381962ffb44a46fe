"""Fault matrix: the real HTTP engine and scheduler against a fault-injecting server on loopback.

Every fault is recorded on its own request with its class; the other requests of the point are
unaffected; the summary leaves failures out of latency and throughput and counts them, so
ok + errors + incomplete == requests sent; every record is in the store.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from tb_fault_run import check_books, run_point
from tb_fault_server import FaultServer, free_port, spawn
from tokbench.engines.openai_http import OpenAIEngine
from tokbench.errors import UserError
from tokbench.records import ERROR, INCOMPLETE, OK

# fault, expected error_class, expected status, engine options, point options
MATRIX = [
    ("http_429", "http_429", ERROR, {}, {}),
    ("http_500", "http_500", ERROR, {}, {}),
    ("http_503", "http_503", ERROR, {}, {}),
    ("malformed_sse:2", "malformed_sse", ERROR, {}, {}),
    ("malformed_json:2", "malformed_json", ERROR, {}, {}),
    ("error_event:2", "server_error", ERROR, {}, {}),
    ("truncate:2", "truncated_stream", None, {}, {}),
    ("reset:2", "truncated_stream", None, {}, {}),
    ("drop", "connect", ERROR, {}, {}),
    # a stream that stops mid-way: the idle timeout (no byte for idle_timeout_s) ends it
    ("stall:2", "timeout_idle", ERROR, {"idle_timeout_s": 0.6}, {}),
    ("stall_headers", "timeout_idle", ERROR, {"idle_timeout_s": 0.6}, {}),
    # the same stalls under the per-request timeout (idle timeout longer than the request's)
    ("stall:2", "timeout", INCOMPLETE, {}, {"timeout_s": 0.6}),
    ("stall_headers", "timeout", INCOMPLETE, {}, {"timeout_s": 0.6}),
    ("slow_first:2", "timeout", INCOMPLETE, {}, {"timeout_s": 0.6}),
]


@pytest.fixture(scope="module")
def server():
    with FaultServer() as srv:
        yield srv


def _ids(case) -> str:
    return f"{case[0]}-{'idle' if case[3] else 'req' if case[4] else ''}".rstrip("-")


@pytest.mark.parametrize("client", ["raw", "aiohttp"])  # plain-http streams / the https path
@pytest.mark.parametrize("case", MATRIX, ids=[_ids(c) for c in MATRIX])
def test_fault_is_recorded_and_excluded(server, tmp_path, case, client):
    fault, cls, status, eng, pt = case
    script = ["ok", fault, "ok", fault, "ok"]
    run = run_point(server.url, tmp_path / "f.db", server, script, pt, {**eng, "raw_http": client == "raw"})
    check_books(run, sent=5)
    assert [r.status == OK for r in run.records] == [True, False, True, False, True]
    bad = [r for r in run.records if r.status != OK]
    assert {r.error_class for r in bad} == {cls}, [(r.status, r.error_class, r.error_message) for r in bad]
    if status is not None:
        assert {r.status for r in bad} == {status}
    s = run.summary
    assert s["ok"] == 3 and s["output_tokens"] == 3 * 6
    classes = {**s["error_classes"], **s["incomplete_classes"]}
    assert classes == {cls: 2}
    # Failed requests (which ran for the whole timeout) never reach the latency figures.
    assert s["e2e_ms"]["p99"] < 450, s["e2e_ms"]
    assert s["ttft_ms"]["p50"] is not None and s["tpot_ms"]["p50"] is not None


def test_timeouts_end_within_their_bound(server, tmp_path):
    run = run_point(server.url, tmp_path / "t.db", server, ["stall:1"] * 2, {"timeout_s": 0.3}, {})
    check_books(run, sent=2)
    assert run.wall_s < 2.0  # two 0.3 s timeouts, not a 3600 s stall
    for r in run.records:
        assert r.status == INCOMPLETE and r.output_tokens == 1 and r.t_end - r.t_start < 1.0


def test_slow_first_byte_is_measured_not_failed(server, tmp_path):
    run = run_point(server.url, tmp_path / "s.db", server, ["slow_first:0.4", "ok", "slow_first:0.4"],
                    {"timeout_s": 5}, {})
    check_books(run, sent=3)
    assert all(r.status == OK for r in run.records)
    ttft = [(r.t_first_token - r.t_start) for r in run.records]
    assert ttft[0] >= 0.4 and ttft[2] >= 0.4 and ttft[1] < 0.3


def test_retry_after_is_reported(server, tmp_path):
    run = run_point(server.url, tmp_path / "r.db", server, ["http_429", "http_503"], {}, {})
    check_books(run, sent=2)
    for r in run.records:
        assert "retry-after: 2" in (r.error_message or "").lower(), r.error_message


def test_concurrent_mix_of_faults(server, tmp_path):
    script = ["ok", "http_503", "truncate:1", "ok", "malformed_sse:1", "drop", "ok", "error_event:1"] * 3
    run = run_point(server.url, tmp_path / "m.db", server, script, {"concurrency": 4}, {})
    check_books(run, sent=len(script))
    assert run.summary["ok"] == 9
    assert sum(run.summary["error_classes"].values()) + sum(run.summary["incomplete_classes"].values()) == 15


def test_connection_refused_at_start_is_one_line():
    eng = OpenAIEngine(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(UserError) as exc:
        asyncio.run(eng.start())
    msg = str(exc.value)
    assert "cannot reach" in msg and "\n" not in msg


def test_server_killed_mid_run(tmp_path):
    """A server SIGKILLed mid-run: requests in flight and after it fail with their class; the
    ones that finished before are all stored; the point still ends (quickly) with every record."""
    proc, port = spawn(default="ok", token_delay=0.02)
    killed_at: list[int] = []

    def on_record(rec) -> None:
        ok_count = on_record.ok = getattr(on_record, "ok", 0) + (rec.status == OK)
        if ok_count == 4 and not killed_at:
            os.kill(proc.pid, signal.SIGKILL)
            killed_at.append(rec.index)

    try:
        t0 = time.perf_counter()
        run = run_point(f"http://127.0.0.1:{port}/v1", tmp_path / "k.db", None, ["x"] * 20,
                        {"concurrency": 2, "gen_tokens": 10}, {"idle_timeout_s": 2.0}, on_record)
        elapsed = time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    check_books(run, sent=20)
    assert killed_at and elapsed < 15
    oks = [r for r in run.records if r.status == OK]
    assert 4 <= len(oks) <= 6  # the 4 before the kill, plus at most the one streaming beside it
    bad = [r for r in run.records if r.status != OK]
    assert len(bad) >= 14
    assert {r.error_class for r in bad} <= {"connect", "truncated_stream"}, {r.error_class for r in bad}


def test_engine_error_never_carries_the_key(server, tmp_path):
    """A server that echoes the key in its error body: the engine's own error message (what
    reaches logs and the preflight's one-line error) already has it masked."""
    key = "tbkeyENGINE0123456789xyz"
    run = run_point(server.url, tmp_path / "e.db", server, ["echo_auth", "ok"], {}, {"api_key": key})
    check_books(run, sent=2)
    (bad,) = [r for r in run.records if r.status != OK]
    assert bad.error_class == "http_500" and "invalid api key" in bad.error_message
    assert key not in bad.error_message and key not in str(run.stored)


@pytest.mark.parametrize("client", ["raw", "aiohttp"])
def test_idle_timeout_is_idle_not_total(tmp_path, client):
    """A slow but steady stream (0.15 s between tokens, 0.9 s in all) outlives a 0.5 s idle timeout."""
    with FaultServer(token_delay=0.15) as srv:
        run = run_point(srv.url, tmp_path / "i.db", srv, ["ok", "stall:1"], {"gen_tokens": 6},
                        {"idle_timeout_s": 0.5, "raw_http": client == "raw"})
    check_books(run, sent=2)
    ok, stalled = run.records
    assert ok.status == OK and ok.t_end - ok.t_start > 0.8
    assert stalled.error_class == "timeout_idle" and 0.5 <= stalled.t_end - stalled.t_start < 1.5
