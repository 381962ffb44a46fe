"""Request rows written off the event loop, committed within milliseconds of ending.

Why: one SQLite commit per request on the event loop costs 0.1-1 ms; when hundreds of streams end
in the same few milliseconds (a closed-loop wave), those commits delay the next wave's request
starts and show up as client TTFT. Here a thread takes each record as it ends and commits
whatever has queued meanwhile in one transaction (sqlite3 releases the GIL while SQLite works), so
a record is durable within COMMIT_GAP_S of its request's end, and a SIGKILL loses at most those.

Commits are at least COMMIT_GAP_S apart: when a closed-loop wave of hundreds of requests ends, the
client's one core is busiest (every stream's end and next start at once); the rows of that wave are
built and committed a little later, while the streams run, instead of competing with the wave for
the core (the writer holds the GIL while it builds rows). ``flush`` and ``close`` do not wait.
"""

from __future__ import annotations

import queue
import threading
import time

from tokbench.records import RequestRecord

_CLOSE = object()
COMMIT_GAP_S = 0.25


class RecordWriter:
    """``add`` from the event loop; ``flush`` waits until everything added is committed."""

    def __init__(self, store, run_id: str):
        self.store, self.run_id = store, run_id
        self._q: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._wake = threading.Event()  # a flush or close is waiting: no pause before the next commit
        self._thread = threading.Thread(target=self._loop, name="tokbench-writer", daemon=True)
        self._thread.start()

    def add(self, rec: RequestRecord) -> None:
        """Queue one record (raises the writer's error if a commit failed)."""
        if self._error is not None:
            raise self._error
        self._q.put(rec)

    def _loop(self) -> None:
        last = 0.0
        while True:
            item = self._q.get()
            pause = COMMIT_GAP_S - (time.monotonic() - last)
            if pause > 0 and item is not _CLOSE and not isinstance(item, threading.Event):
                self._wake.wait(pause)  # more records gather meanwhile: one commit for all of them
            self._wake.clear()  # a flush or close queued after this still skips its pause (above)
            last = time.monotonic()
            batch, done = [], []
            while True:
                if item is _CLOSE:
                    self._commit(batch)
                    return
                if isinstance(item, threading.Event):
                    done.append(item)
                else:
                    batch.append(item)
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
            self._commit(batch)
            for ev in done:
                ev.set()

    def _commit(self, batch: list[RequestRecord]) -> None:
        if not batch or self._error is not None:
            return
        try:
            self.store.add_records(self.run_id, batch)
        except BaseException as exc:  # noqa: BLE001 - reported to the event loop at the next add/flush
            self._error = exc

    def flush(self, timeout: float | None = 10.0) -> None:
        """Block until every record added so far is committed."""
        ev = threading.Event()
        self._q.put(ev)
        self._wake.set()
        ev.wait(timeout)
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Commit what is queued and stop the thread."""
        self._q.put(_CLOSE)
        self._wake.set()
        self._thread.join(10)
        if self._error is not None:
            raise self._error
