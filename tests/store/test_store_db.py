"""Store: runs, records round trip, counts, run ids, durability under SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from tokbench.errors import UserError
from tokbench.records import RequestRecord
from tokbench.store import open_store
from tokbench.store.db import pack_times, unpack_times
from tokbench.store.ids import RUN_ID_RE, new_run_id


def rec(i: int = 0, **kw) -> RequestRecord:
    base = dict(point="c=1 d=64", index=i, concurrency=1, context_depth=64, prompt_tokens=64,
                gen_tokens_requested=4, t_start=10.0 + i, t_first_token=10.1 + i, t_end=10.4 + i,
                token_times=[10.1 + i, 10.2 + i, 10.2 + i, 10.4 + i], output_tokens=4)
    base.update(kw)
    return RequestRecord(**base)


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "t.db")
    yield s
    s.close()


def test_records_round_trip_every_field(store):
    run = store.create_run("bench", {"engine": "llama.cpp"}, {"host": "h"})
    r = rec(usage_output_tokens=5, usage_prompt_tokens=63, status="incomplete", error_class="timeout_idle",
            error_message="stalled", warmup=False, role="sub", native={"predicted_per_second": 12.5},
            token_times=[0.1 + 1e-9 * k for k in range(1000)])
    store.add_record(run, r)
    (back,) = store.records(run)
    assert back == r  # token_times exact (float64), every field kept


def test_warmup_excluded_by_default_and_counts(store):
    run = store.create_run("bench", {}, {})
    store.add_records(run, [rec(0, warmup=True), rec(1), rec(2, status="error", error_class="http_503"),
                            rec(3, status="incomplete")])
    assert [r.index for r in store.records(run)] == [1, 2, 3]
    assert len(store.records(run, include_warmup=True)) == 4
    info = store.get_run(run)
    assert (info.requests, info.ok, info.errors, info.incomplete) == (3, 1, 1, 1)


def test_finish_and_list(store):
    a = store.create_run("bench", {}, {}, name="alpha", suite_id="s1")
    b = store.create_run("import", {}, {})
    store.finish_run(a, "interrupted", error="SIGINT")
    runs = store.list_runs()
    assert {r.id for r in runs} == {a, b}
    assert store.get_run(a).status == "interrupted" and store.get_run(a).finished_at
    assert store.get_run(a).error == "SIGINT"
    assert [r.id for r in store.list_runs(suite_id="s1")] == [a]
    assert len(store.list_runs(limit=1)) == 1
    with pytest.raises(ValueError):
        store.finish_run(a, "done")
    with pytest.raises(UserError):
        store.finish_run("nope", "complete")


def test_point_meta_replace(store):
    run = store.create_run("bench", {}, {})
    store.set_point_meta(run, "c=1", {"a": 1})
    store.set_point_meta(run, "c=8", {"b": 2})
    store.set_point_meta(run, "c=1", {"a": 3})
    assert store.point_meta(run) == {"c=1": {"a": 3}, "c=8": {"b": 2}}


def test_run_ids_sortable_unique_and_resolved(store):
    assert RUN_ID_RE.match(new_run_id())
    ids = [store.create_run("bench", {}, {}, name=f"n{i}") for i in range(30)]
    assert len(set(ids)) == 30
    assert store.resolve_run_id(ids[3]) == ids[3]
    assert store.resolve_run_id("n7") == ids[7]
    assert store.resolve_run_id("last") in ids
    unique_prefix = ids[5][:-1]
    if sum(i.startswith(unique_prefix) for i in ids) == 1:
        assert store.resolve_run_id(unique_prefix) == ids[5]
    with pytest.raises(UserError, match="ambiguous"):
        store.resolve_run_id(ids[0][:8])  # all share the date
    with pytest.raises(UserError, match="did you mean"):
        store.resolve_run_id(ids[4][:-1] + "z")
    with pytest.raises(UserError, match="unknown run"):
        store.get_run("x")


def test_pack_times_exact():
    t = [0.0, 1.5, 1e-12, 123456.789012345]
    assert unpack_times(pack_times(t)) == t
    assert unpack_times(None) == [] and len(pack_times(t)) == 32


def test_stale_running_run_detected(tmp_path):
    path = tmp_path / "s.db"
    code = "from tokbench.store import open_store; s = open_store(r'%s'); print(s.create_run('bench', {}, {}))" % path
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    with open_store(path) as s:
        info = s.get_run(run)
        assert info.status == "running" and info.stale
        assert [r.id for r in s.stale_runs()] == [run]
        mine = s.create_run("bench", {}, {})
        assert not s.get_run(mine).stale  # this process is alive


WRITER = textwrap.dedent(
    """
    import sys
    from tokbench.records import RequestRecord
    from tokbench.store import open_store
    s = open_store(sys.argv[1])
    run = s.create_run("bench", {}, {})
    print(run, flush=True)
    i = 0
    while True:
        s.add_record(run, RequestRecord(point="p", index=i, concurrency=1, context_depth=0, prompt_tokens=1,
                     gen_tokens_requested=8, t_start=float(i), t_end=i + 1.0, token_times=[i + 0.1] * 64,
                     output_tokens=64))
        print(i, flush=True)
        i += 1
    """
)


def test_sigkill_loses_no_committed_record(tmp_path):
    path = tmp_path / "k.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        run = proc.stdout.readline().strip()
        last = -1
        while last < 200:
            last = int(proc.stdout.readline())
        os.kill(proc.pid, signal.SIGKILL)  # mid-write: the writer never stops on its own
    finally:
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with open_store(path) as s:
        got = [r.index for r in s.records(run)]
        assert got[: last + 1] == list(range(last + 1))  # every acknowledged row, in order
        assert s.get_run(run).stale


def test_threads_share_a_store(store):
    import threading

    run = store.create_run("bench", {}, {})

    def writer(k: int) -> None:
        for i in range(50):
            store.add_record(run, rec(k * 100 + i, point=f"t{k}"))
            store.records(run)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.records(run)) == 200 and store.get_run(run).ok == 200
