"""Append-only, named schema migrations for the tokbench SQLite store.

The idea follows simonw/llm's ``llm/migrations.py`` (re-implemented, not copied): every schema
change is a function with a unique name, appended to :data:`MIGRATIONS` and never edited once
released. A ``_migrations`` table records which names were applied, and ``PRAGMA user_version``
holds how many, so an older tokbench can tell that a database was written by a newer one (unknown
names or a higher version) and refuse to touch it instead of corrupting it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]


def m001_initial(db: sqlite3.Connection) -> None:
    """Runs, sweep points and raw request rows."""
    db.execute(
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            name TEXT,
            suite_id TEXT,
            status TEXT NOT NULL CHECK (status IN ('running','complete','interrupted','failed')),
            created_at TEXT NOT NULL,
            finished_at TEXT,
            config TEXT NOT NULL DEFAULT '{}',
            environment TEXT NOT NULL DEFAULT '{}',
            error TEXT,
            pid INTEGER,
            host TEXT
        )"""
    )
    db.execute("CREATE INDEX runs_suite ON runs(suite_id)")
    db.execute(
        """CREATE TABLE points (
            run_id TEXT NOT NULL REFERENCES runs(id),
            point TEXT NOT NULL,
            meta TEXT NOT NULL DEFAULT '{}',
            updated_at TEXT NOT NULL,
            PRIMARY KEY (run_id, point)
        )"""
    )
    # One row per request; every RequestRecord field has a column, token_times is a packed
    # little-endian float64 blob (8 bytes a token), and ``extra`` keeps fields that a newer
    # RequestRecord may add so nothing a writer gives is dropped.
    db.execute(
        """CREATE TABLE requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(id),
            point TEXT NOT NULL,
            idx INTEGER NOT NULL,
            concurrency INTEGER NOT NULL,
            context_depth INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            gen_tokens_requested INTEGER NOT NULL,
            t_start REAL NOT NULL,
            t_first_token REAL,
            t_end REAL,
            token_times BLOB,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            usage_output_tokens INTEGER,
            usage_prompt_tokens INTEGER,
            status TEXT NOT NULL,
            error_class TEXT,
            error_message TEXT,
            warmup INTEGER NOT NULL DEFAULT 0,
            role TEXT NOT NULL DEFAULT '',
            native TEXT NOT NULL DEFAULT '{}',
            extra TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    db.execute("CREATE INDEX requests_run ON requests(run_id, point)")


# Append only. Never rename, reorder or edit a released entry: add a new one.
MIGRATIONS: list[tuple[str, Migration]] = [
    ("m001_initial", m001_initial),
]

MIGRATIONS_TABLE = "_migrations"


def applied_names(db: sqlite3.Connection) -> list[str]:
    """Names recorded in the migrations table (empty for a fresh database)."""
    row = db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name=?", (MIGRATIONS_TABLE,)).fetchone()
    if row is None:
        return []
    return [r[0] for r in db.execute(f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY rowid")]


def pending(db: sqlite3.Connection) -> list[tuple[str, Migration]]:
    """Known migrations not applied yet, in order."""
    done = set(applied_names(db))
    return [(n, fn) for n, fn in MIGRATIONS if n not in done]


def unknown_names(db: sqlite3.Connection) -> list[str]:
    """Applied names this version of tokbench does not know: the database is newer."""
    known = {n for n, _ in MIGRATIONS}
    return [n for n in applied_names(db) if n not in known]


def apply(db: sqlite3.Connection, now: str) -> list[str]:
    """Apply pending migrations in one IMMEDIATE transaction; returns the names applied.

    ``db`` must be in autocommit mode (``isolation_level=None``). The write lock is taken before
    re-reading what is applied, so two processes opening a fresh database don't both migrate it.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        done = []
        for name, fn in pending(db):
            fn(db)
            db.execute(f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)", (name, now))
            done.append(name)
        db.execute(f"PRAGMA user_version = {len(applied_names(db))}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return done
