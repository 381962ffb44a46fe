"""The SQLite store: runs, sweep points and raw request rows, written as requests complete.

Durability: the database runs in WAL mode with ``synchronous=NORMAL``; each :meth:`Store.add_record`
is its own committed transaction, so a process killed with SIGKILL loses nothing it had added (WAL
+ NORMAL only risks the last transactions on a power loss, not a process crash; see
https://www.sqlite.org/wal.html). Safety: a file that is not a SQLite database, or a database
written by a newer tokbench, raises :class:`UserError` and is never written; an existing database
is copied to a timestamped backup before it is migrated.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
import struct
import threading
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tokbench.errors import UserError, unknown
from tokbench.records import RequestRecord
from tokbench.store.ids import new_run_id, utc_now
from tokbench.store.redact import env_secrets, might_hold_secret, redact, redact_text

RUN_STATUSES = ("running", "complete", "interrupted", "failed")
FINAL_STATUSES = RUN_STATUSES[1:]
SQLITE_MAGIC = b"SQLite format 3\x00"

# RequestRecord fields with a column of their own (``index`` is ``idx``: INDEX is an SQL keyword).
_COLUMNS = (
    "point", "index", "concurrency", "context_depth", "prompt_tokens", "gen_tokens_requested",
    "t_start", "t_first_token", "t_end", "token_times", "output_tokens", "usage_output_tokens",
    "usage_prompt_tokens", "status", "error_class", "error_message", "warmup", "role", "native",
)
_SQL_COLUMNS = ["idx" if c == "index" else c for c in _COLUMNS]
_INSERT = (
    f"INSERT INTO requests (run_id, {', '.join(_SQL_COLUMNS)}, extra) "
    f"VALUES ({', '.join('?' * (len(_SQL_COLUMNS) + 2))})"
)


def pack_times(times: list[float]) -> bytes:
    """Token timestamps as little-endian float64 (exact, 8 bytes a token)."""
    return struct.pack(f"<{len(times)}d", *times)


def unpack_times(blob: bytes | None) -> list[float]:
    """Inverse of :func:`pack_times`."""
    if not blob:
        return []
    return list(struct.unpack(f"<{len(blob) // 8}d", blob))


@dataclass
class RunInfo:
    """One stored run with its request counts (warm-up requests not counted).

    ``stale`` is True for a run still marked ``running`` whose writing process is gone (same host,
    pid not alive): it was killed or crashed before it could mark itself interrupted.
    """

    id: str
    kind: str
    status: str
    created_at: str
    name: str | None = None
    suite_id: str | None = None
    finished_at: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    pid: int | None = None
    host: str | None = None
    requests: int = 0
    ok: int = 0
    errors: int = 0
    incomplete: int = 0
    stale: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def _guarded(method):
    """Turn SQLite failures (corrupt pages, locked or read-only file) into one-line UserErrors."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as exc:
            raise UserError(f"database {self.path}: {exc} (see 'tokbench db check')") from None

    return wrapper


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is someone else's
    return True


class Store:
    """A tokbench database. Create with :func:`open_store`; safe to share between threads."""

    def __init__(self, conn: sqlite3.Connection, path: Path, secrets: list[str] | None = None) -> None:
        self.conn = conn
        self.path = path
        self.secrets: list[str] = list(secrets or []) + env_secrets()
        self._lock = threading.RLock()
        self._host = socket.gethostname()

    # -- secrets -------------------------------------------------------------------------------
    def add_secrets(self, secrets: list[str]) -> None:
        """Values to mask in everything written from now on (API keys given by flag or env)."""
        self.secrets.extend(s for s in secrets if s)

    def _json(self, value: Any) -> str:
        text = json.dumps(value or {}, default=str, allow_nan=True)
        if not might_hold_secret(text, self.secrets):
            return text  # what the redacted copy would dump to, without walking it
        return json.dumps(redact(value or {}, self.secrets), default=str, allow_nan=True)

    # -- runs ----------------------------------------------------------------------------------
    def create_run(self, kind: str, config: dict, environment: dict, suite_id: str | None = None,
                   name: str | None = None) -> str:
        """Insert a ``running`` run; returns its id. ``config``/``environment`` are redacted first."""
        cfg, env = self._json(config), self._json(environment)
        with self._lock:
            for _ in range(20):
                run_id = new_run_id()
                try:
                    self.conn.execute(
                        "INSERT INTO runs (id, kind, name, suite_id, status, created_at, config, environment, pid, host)"
                        " VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                        (run_id, kind, name, suite_id, utc_now(), cfg, env, os.getpid(), self._host),
                    )
                    return run_id
                except sqlite3.IntegrityError:
                    continue  # same second and same 16 random bits: draw again
        raise RuntimeError("could not allocate a unique run id")

    def finish_run(self, run_id: str, status: str, error: str | None = None) -> None:
        """Mark a run complete, interrupted or failed (the error message is redacted)."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FINAL_STATUSES)}, not {status!r}")
        err = redact_text(str(error), self.secrets) if error is not None else None
        with self._lock:
            cur = self.conn.execute(
                "UPDATE runs SET status=?, finished_at=?, error=? WHERE id=?", (status, utc_now(), err, run_id)
            )
        if cur.rowcount == 0:
            raise self._unknown_run(run_id)

    def reopen_run(self, run_id: str) -> None:
        """Mark a finished run ``running`` again under this process (``bench --resume``)."""
        with self._lock:
            cur = self.conn.execute(
                "UPDATE runs SET status='running', finished_at=NULL, error=NULL, pid=?, host=? WHERE id=?",
                (os.getpid(), self._host, run_id),
            )
        if cur.rowcount == 0:
            raise self._unknown_run(run_id)

    def set_point_meta(self, run_id: str, point: str, meta: dict) -> None:
        """Store (replace) one sweep point's metadata, e.g. its planned settings or a summary."""
        with self._lock:
            self.conn.execute(
                "INSERT INTO points (run_id, point, meta, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(run_id, point) DO UPDATE SET meta=excluded.meta, updated_at=excluded.updated_at",
                (run_id, point, self._json(meta), utc_now()),
            )

    def point_meta(self, run_id: str) -> dict[str, dict]:
        """Every point's metadata of a run, in the order they were first set."""
        with self._lock:
            rows = self.conn.execute("SELECT point, meta FROM points WHERE run_id=? ORDER BY rowid", (run_id,)).fetchall()
        return {p: json.loads(m) for p, m in rows}

    # -- records -------------------------------------------------------------------------------
    def _row(self, run_id: str, rec: RequestRecord) -> tuple:
        # The fields as they are, not ``asdict``: it deep-copies every token timestamp one call at a
        # time (~0.3 ms a record), CPU the writer thread takes from the event loop while streams run.
        d = vars(rec)
        vals = []
        for c in _COLUMNS:
            v = d.get(c)
            if c == "token_times":
                v = pack_times(v or [])
            elif c == "native":
                v = self._json(v)
            elif c == "error_message" and v is not None:
                v = redact_text(str(v), self.secrets)
            elif c == "warmup":
                v = int(bool(v))
            vals.append(v)
        extra = {k: v for k, v in d.items() if k not in _COLUMNS}
        return (run_id, *vals, self._json(extra))

    def add_record(self, run_id: str, record: RequestRecord) -> None:
        """Append one request row, committed before this returns."""
        row = self._row(run_id, record)
        with self._lock:
            self.conn.execute(_INSERT, row)

    def add_records(self, run_id: str, records: list[RequestRecord]) -> None:
        """Append many rows in one transaction (all or none)."""
        rows = [self._row(run_id, r) for r in records]
        with self._lock:
            self.conn.execute("BEGIN")
            try:
                self.conn.executemany(_INSERT, rows)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    def records(self, run_id: str, include_warmup: bool = False) -> list[RequestRecord]:
        """A run's request rows in the order they were written."""
        sql = f"SELECT {', '.join(_SQL_COLUMNS)}, extra FROM requests WHERE run_id=?"
        if not include_warmup:
            sql += " AND warmup=0"
        out = []
        names = {f.name for f in fields(RequestRecord)}
        with self._lock:  # one connection is shared by threads: read it whole under the lock
            rows = self.conn.execute(sql + " ORDER BY id", (run_id,)).fetchall()
        for row in rows:
            d = dict(zip(_COLUMNS, row[:-1]))
            d["token_times"] = unpack_times(d["token_times"])
            d["native"] = json.loads(d["native"] or "{}")
            d["warmup"] = bool(d["warmup"])
            d.update({k: v for k, v in json.loads(row[-1] or "{}").items() if k in names})
            out.append(RequestRecord.from_dict(d))
        return out

    # -- queries -------------------------------------------------------------------------------
    _RUN_SQL = (
        "SELECT r.id, r.kind, r.status, r.created_at, r.name, r.suite_id, r.finished_at, r.config,"
        " r.environment, r.error, r.pid, r.host,"
        " COUNT(q.id), SUM(q.status='ok'), SUM(q.status='error'), SUM(q.status='incomplete')"
        " FROM runs r LEFT JOIN requests q ON q.run_id = r.id AND q.warmup = 0"
    )

    def _info(self, row: tuple) -> RunInfo:
        info = RunInfo(*row[:7], config=json.loads(row[7]), environment=json.loads(row[8]), error=row[9],
                       pid=row[10], host=row[11], requests=row[12] or 0, ok=row[13] or 0,
                       errors=row[14] or 0, incomplete=row[15] or 0)
        if info.requests == 0:
            self._counts_from_summaries(info)
        if info.status == "running" and info.host == self._host and info.pid is not None:
            info.stale = not _pid_alive(info.pid)
        return info

    def _counts_from_summaries(self, info: RunInfo) -> None:
        # Imported runs may hold only per-point summaries: count their requests from those.
        for meta in self.point_meta(info.id).values():
            summary = meta.get("summary") if isinstance(meta, dict) else None
            if isinstance(summary, dict):
                for key in ("requests", "ok", "errors", "incomplete"):
                    value = summary.get(key)
                    if isinstance(value, int):
                        setattr(info, key, getattr(info, key) + value)

    def get_run(self, run_id: str) -> RunInfo:
        """One run by exact id (UserError with close matches when unknown)."""
        with self._lock:
            row = self.conn.execute(self._RUN_SQL + " WHERE r.id=? GROUP BY r.id", (run_id,)).fetchone()
        if row is None:
            raise self._unknown_run(run_id)
        return self._info(row)

    def list_runs(self, limit: int | None = None, suite_id: str | None = None) -> list[RunInfo]:
        """Runs, newest first."""
        sql, params = self._RUN_SQL, []
        if suite_id is not None:
            sql += " WHERE r.suite_id=?"
            params.append(suite_id)
        sql += " GROUP BY r.id ORDER BY r.created_at DESC, r.id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._lock:
            rows = self.conn.execute(sql, params).fetchall()
        return [self._info(r) for r in rows]

    def stale_runs(self) -> list[RunInfo]:
        """Runs left ``running`` by a process that is gone (killed, crashed)."""
        return [r for r in self.list_runs() if r.stale]

    def resolve_run_id(self, text: str) -> str:
        """A full run id from an id, a unique id prefix, a run name, or ``last``."""
        text = text.strip()
        if text in ("last", "latest"):
            row = self.conn.execute("SELECT id FROM runs ORDER BY created_at DESC, id DESC LIMIT 1").fetchone()
            if row is None:
                raise UserError(f"no runs in {self.path}")
            return row[0]
        hits = [r[0] for r in self.conn.execute("SELECT id FROM runs WHERE id=? OR name=?", (text, text))]
        if len(hits) == 1:
            return hits[0]
        if not hits and text:
            like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            hits = [r[0] for r in self.conn.execute("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\'", (like,))]
            if len(hits) == 1:
                return hits[0]
        if len(hits) > 1:
            shown = ", ".join(sorted(hits)[:5]) + (" ..." if len(hits) > 5 else "")
            raise UserError(f"run id '{text}' is ambiguous: {len(hits)} runs match ({shown}); give more characters")
        raise self._unknown_run(text)

    def _unknown_run(self, text: str) -> UserError:
        ids = [r[0] for r in self.conn.execute("SELECT id FROM runs UNION SELECT name FROM runs WHERE name IS NOT NULL")]
        if not ids:
            return UserError(f"unknown run '{text}': no runs in {self.path}")
        return unknown("run", text, ids)

    def close(self) -> None:
        """Close the connection (a WAL checkpoint happens then)."""
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


for _name in ("create_run", "finish_run", "reopen_run", "set_point_meta", "point_meta", "add_record", "add_records",
              "records", "get_run", "list_runs", "resolve_run_id"):
    setattr(Store, _name, _guarded(getattr(Store, _name)))
