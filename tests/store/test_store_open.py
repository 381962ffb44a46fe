"""Opening the database: path precedence, refusal of corrupt/foreign/newer files, backups."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from tokbench.errors import UserError
from tokbench.store import check_db, default_db_path, migrations, open_store, resolve_db_path


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_path_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("TOKBENCH_DB", str(tmp_path / "env.db"))
    assert default_db_path() == tmp_path / "env.db"
    assert resolve_db_path(tmp_path / "flag.db") == tmp_path / "flag.db"
    assert resolve_db_path(None) == tmp_path / "env.db"
    monkeypatch.delenv("TOKBENCH_DB")
    p = default_db_path()
    assert p.name == "tokbench.db" and "tokbench" in str(p.parent)


def test_fresh_db_is_wal_and_migrated(tmp_path):
    path = tmp_path / "sub" / "new.db"
    with open_store(path) as s:
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert migrations.applied_names(s.conn) == [n for n, _ in migrations.MIGRATIONS]
        assert s.conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations.MIGRATIONS)
    with open_store(path):  # reopening applies nothing and makes no backup
        pass
    assert not list(path.parent.glob("*.backup-*"))


@pytest.mark.parametrize("content", [b"not a database at all\n" * 10, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_corrupt_file_refused_untouched(tmp_path, content):
    path = tmp_path / "bad.db"
    path.write_bytes(content)
    before = digest(path)
    with pytest.raises(UserError) as exc:
        open_store(path)
    assert "\n" not in str(exc.value) and "untouched" in str(exc.value)
    assert digest(path) == before
    with pytest.raises(UserError):
        check_db(path)


def test_foreign_sqlite_refused(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(UserError, match="not tokbench"):
        open_store(path)
    assert digest(path) == before


def _make_newer(path, how: str) -> None:
    open_store(path).close()
    conn = sqlite3.connect(path)
    if how == "name":
        conn.execute("INSERT INTO _migrations VALUES ('m999_future', 'x')")
    else:
        conn.execute(f"PRAGMA user_version = {len(migrations.MIGRATIONS) + 5}")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("how", ["name", "version"])
def test_newer_schema_refused_untouched(tmp_path, how):
    path = tmp_path / "newer.db"
    _make_newer(path, how)
    before = digest(path)
    with pytest.raises(UserError, match="newer tokbench") as exc:
        open_store(path)
    assert "\n" not in str(exc.value)
    assert digest(path) == before
    with pytest.raises(UserError, match="newer"):
        check_db(path)


def test_backup_before_migrating_older_db(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    with open_store(path) as s:
        run = s.create_run("bench", {"x": 1}, {})

    def m002_add_column(db):
        db.execute("ALTER TABLE runs ADD COLUMN note TEXT")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, ("m002_add_column", m002_add_column)])
    with open_store(path) as s:
        assert "m002_add_column" in migrations.applied_names(s.conn)
        assert s.get_run(run).config == {"x": 1}
    (backup,) = path.parent.glob("old.db.backup-*")
    conn = sqlite3.connect(backup)
    assert [r[0] for r in conn.execute("SELECT name FROM _migrations")] == ["m001_initial"]
    assert conn.execute("SELECT id FROM runs").fetchone()[0] == run
    conn.close()


def test_failed_migration_rolls_back(tmp_path, monkeypatch):
    path = tmp_path / "roll.db"
    open_store(path).close()

    def m002_broken(db):
        db.execute("CREATE TABLE half (x)")
        raise RuntimeError("boom")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, ("m002_broken", m002_broken)])
    with pytest.raises(RuntimeError):
        open_store(path)
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "half" not in tables
    assert [r[0] for r in conn.execute("SELECT name FROM _migrations")] == ["m001_initial"]
    conn.close()


def test_check_db_reports_counts(tmp_path):
    path = tmp_path / "c.db"
    with open_store(path) as s:
        s.create_run("bench", {}, {})
    doc = check_db(path)
    assert doc["ok"] and doc["counts"]["runs"] == 1 and doc["pending"] == []


def test_corrupt_pages_give_user_errors(tmp_path):
    from tokbench.records import RequestRecord

    path = tmp_path / "mid.db"
    with open_store(path) as s:
        run = s.create_run("bench", {}, {})
        s.add_records(run, [RequestRecord(point="p", index=i, concurrency=1, context_depth=0, prompt_tokens=1,
                                          gen_tokens_requested=1, t_start=0.0, token_times=[0.1] * 200)
                            for i in range(300)])
    with path.open("r+b") as f:  # smash pages after the header: the file still looks like SQLite
        f.seek(4096 * 3)
        f.write(b"\xde\xad" * 2048)
    assert check_db(path)["ok"] is False
    with pytest.raises(UserError, match="db check"):
        with open_store(path) as s:
            s.list_runs()
            s.records(run)
