"""``tokbench db path|check|backup``: where the database is, whether it is healthy, a copy of it."""

from __future__ import annotations

import argparse


def add_db_arg(p: argparse.ArgumentParser) -> None:
    """The shared ``--db PATH`` option (``--db`` > ``$TOKBENCH_DB`` > user data dir)."""
    p.add_argument("--db", metavar="PATH", help="database file (default: $TOKBENCH_DB or the user data dir)")


def register(subparsers) -> None:
    """Add the ``db`` command."""
    p = subparsers.add_parser("db", help="database path, integrity check and backup",
                              description="Show the database path, check its integrity, or back it up.")
    p.add_argument("action", choices=("path", "check", "backup"), help="what to do")
    p.add_argument("--out", metavar="PATH",
                   help="backup destination, a new file (default: <db>.backup-<UTC time>; never overwritten)")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_db_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``tokbench db``."""
    from tokbench.cli.output import print_json
    from tokbench.store import check_db, resolve_db_path

    path = resolve_db_path(args.db)
    if args.action == "path":
        doc = {"path": str(path), "exists": path.exists()}
        print_json(doc) if args.json else print(path)
        return 0
    if path.is_dir():  # check_db would open it as a file: IsADirectoryError (tests/fuzz found it)
        from tokbench.errors import UserError

        raise UserError(f"{path} is a directory, not a database file")
    if args.action == "check":
        doc = check_db(path)
        if args.json:
            print_json(doc)
        else:
            state = "ok" if doc["ok"] else "CORRUPT: " + "; ".join(map(str, doc["integrity"]))
            counts = ", ".join(f"{v} {k}" for k, v in doc["counts"].items())
            print(f"{path}: {state}; schema {doc['schema_version']}; {counts}")
        return 0 if doc["ok"] else 1
    check_db(path)  # refuses corrupt / foreign / newer files with one line
    out, size = _backup(path, args.out)
    print_json({"path": str(path), "backup": str(out), "bytes": size}) if args.json else \
        print(f"backed up {path} to {out} ({size:,} bytes)")
    return 0


def _backup(path, out: str | None):
    """Back ``path`` up to a new file (never over an existing one): a temporary sibling, then a rename."""
    from datetime import datetime, timezone
    from pathlib import Path

    from tokbench import safewrite
    from tokbench.store import backup_db

    if out is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
        out = str(Path(path).with_name(f"{Path(path).name}.backup-{stamp}"))
    dest = safewrite.check_file_dest(out, force=False)
    tmp = safewrite.temp_file(dest)
    try:
        backup_db(path, tmp)
        safewrite.commit_file(tmp, dest, force=False)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest, dest.stat().st_size
