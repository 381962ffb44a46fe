"""Finding, opening, checking and backing up the tokbench database file."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from tokbench.errors import UserError
from tokbench.store import migrations
from tokbench.store.db import SQLITE_MAGIC, Store
from tokbench.store.ids import utc_now

DB_ENV = "TOKBENCH_DB"
DB_NAME = "tokbench.db"


def default_db_path() -> Path:
    """``$TOKBENCH_DB`` when set, else ``tokbench.db`` in the user's data dir (platformdirs)."""
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir  # lazy: only commands that touch the store pay for it

    return Path(user_data_dir("tokbench", appauthor=False)) / DB_NAME


def resolve_db_path(path: str | os.PathLike | None = None) -> Path:
    """``--db`` flag > ``TOKBENCH_DB`` > user data dir."""
    return Path(path).expanduser() if path else default_db_path()


def _check_header(path: Path) -> None:
    # A non-empty file that doesn't start with SQLite's magic is someone else's file (or
    # garbage): refuse before sqlite3 gets a chance to touch it.
    with path.open("rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head and head != SQLITE_MAGIC:
        raise UserError(f"{path} is not a tokbench database (not SQLite, or corrupt); left untouched. Use --db to pick another file")


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def _schema_state(conn: sqlite3.Connection, path: Path) -> tuple[list[str], int]:
    """(applied migration names, user_version); UserError for corrupt / foreign / newer databases."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        applied = migrations.applied_names(conn)
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{path} is corrupt or not a database ({exc}); left untouched") from None
    if tables and migrations.MIGRATIONS_TABLE not in tables:
        raise UserError(f"{path} is an SQLite database but not tokbench's (no {migrations.MIGRATIONS_TABLE} table); left untouched")
    newer = migrations.unknown_names(conn)
    if newer or version > len(migrations.MIGRATIONS):
        raise UserError(
            f"{path} was written by a newer tokbench (schema {max(version, len(applied))} > "
            f"{len(migrations.MIGRATIONS)}{', unknown migrations: ' + ', '.join(newer) if newer else ''}); "
            "upgrade tokbench or use another --db. The file was not changed"
        )
    return applied, version


def backup_db(path: Path, dest: Path | None = None) -> Path:
    """Consistent copy of the database (SQLite's online backup API, safe while others write)."""
    if dest is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
        dest = path.with_name(f"{path.name}.backup-{stamp}")
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = sqlite3.connect(str(dest))
        try:
            src.backup(out)
        finally:
            out.close()
    finally:
        src.close()
    return dest


def open_store(path: str | os.PathLike | None = None, secrets: list[str] | None = None) -> Store:
    """Open (creating and migrating as needed) the database at ``path`` or the default path.

    ``secrets`` are values to mask in everything written (see :mod:`tokbench.store.redact`).
    An existing database with pending migrations is first copied to ``<name>.backup-<UTC time>``.
    """
    p = resolve_db_path(path)
    if p.exists():
        if p.is_dir():
            raise UserError(f"{p} is a directory, not a database file")
        _check_header(p)
    else:
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create database directory {p.parent}: {exc.strerror}") from None
    try:
        conn = _connect(p)
    except sqlite3.Error as exc:
        raise UserError(f"cannot open database {p}: {exc}") from None
    try:
        applied, _ = _schema_state(conn, p)
        todo = [n for n, _ in migrations.MIGRATIONS if n not in applied]
        if todo and applied:
            backup_db(p)  # an older tokbench's data: keep a copy before changing its schema
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if todo:
            migrations.apply(conn, utc_now())
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise UserError(f"{p} is corrupt or not a database ({exc}); left untouched") from None
    except BaseException:
        conn.close()
        raise
    return Store(conn, p, secrets)


def check_db(path: Path) -> dict:
    """Read-only health check: SQLite's integrity_check, schema state and row counts."""
    if not path.exists():
        raise UserError(f"no database at {path}")
    _check_header(path)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        applied, version = _schema_state(conn, path)
        try:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:
            problems = [str(exc)]
        counts = {}
        if applied:
            for table in ("runs", "points", "requests"):
                counts[table] = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()
    ok = problems == ["ok"]
    return {
        "path": str(path), "ok": ok, "integrity": "ok" if ok else problems[:20],
        "schema_version": version, "migrations": applied,
        "pending": [n for n, _ in migrations.MIGRATIONS if n not in applied], "counts": counts,
        "size_bytes": path.stat().st_size,
    }
