"""Helpers for the fault tests: run one sweep point of the real HTTP engine and scheduler against a
fault server, writing every record to a real store, and check the bookkeeping invariants."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from tokbench.engines.openai_http import OpenAIEngine
from tokbench.loadgen.scheduler import Point, Scheduler
from tokbench.metrics import summarize_point
from tokbench.records import OK, RequestRecord
from tokbench.store import open_store


@dataclass
class FaultRun:
    """What one faulted point left behind: the scheduler's records, the stored ones, the summary."""

    records: list[RequestRecord]
    stored: list[RequestRecord]
    summary: dict
    wall_s: float


def run_point(url: str, db: Path, script_target=None, script: list[str] = (), point: dict | None = None,
              engine: dict | None = None, on_record=None) -> FaultRun:
    """Start the engine (its preflight gets the server's default), then load ``script`` into
    ``script_target`` (a FaultApp) and run one point; every record goes to the store as it ends."""
    return asyncio.run(_run(url, db, script_target, list(script), point or {}, engine or {}, on_record))


async def _run(url, db, target, script, point_kw, engine_kw, on_record) -> FaultRun:
    eng = OpenAIEngine(url, **{"idle_timeout_s": 30.0, **engine_kw})
    await eng.start()
    store = open_store(db, secrets=[engine_kw["api_key"]] if engine_kw.get("api_key") else None)
    try:
        run_id = store.create_run("bench", {"endpoint": url}, {})
        if target is not None:
            target.script.extend(script)

        def sink(rec: RequestRecord) -> None:
            store.add_record(run_id, rec)
            if on_record:
                on_record(rec)

        p = Point(**{"concurrency": 1, "context_depth": 8, "gen_tokens": 6, "requests": len(script) or 4,
                     "warmup": 0, **point_kw})
        res = await Scheduler(eng, sink).run_point(p)
        store.finish_run(run_id, "complete")
        stored = store.records(run_id, include_warmup=True)
    finally:
        store.close()
        await eng.stop()
    return FaultRun(res.records, stored, summarize_point(res.records), res.wall_s)


def check_books(run: FaultRun, sent: int) -> None:
    """Nothing lost, nothing double-counted: every request sent is one stored record, and the
    summary's ok + errors + incomplete equals the requests sent."""
    s = run.summary
    assert len(run.records) == sent, (len(run.records), sent)
    assert sorted(r.index for r in run.stored) == sorted(r.index for r in run.records)
    assert s["requests"] == sent and s["ok"] + s["errors"] + s["incomplete"] == sent, s
    ok = [r for r in run.records if r.status == OK]
    assert s["ok"] == len(ok)
    # Latency and throughput come from ok requests only.
    assert s["output_tokens"] == sum(r.usage_output_tokens or r.output_tokens for r in ok)
    for r in run.records:
        if r.status != OK:
            assert r.error_class, r
