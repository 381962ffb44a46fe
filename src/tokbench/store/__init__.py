"""The embedded SQLite store of runs, sweep points and raw request rows.

Public API (see docs/INTERFACES.md, section store)::

    store = open_store(path=None, secrets=[api_key])   # --db > $TOKBENCH_DB > user data dir
    run_id = store.create_run("bench", config, environment, suite_id=None, name=None)
    store.add_record(run_id, record)                    # committed at once
    store.set_point_meta(run_id, "c=8 d=4096", {...})
    store.finish_run(run_id, "complete" | "interrupted" | "failed", error=None)

Callers must pass the secrets they hold (``--api-key`` values) to :func:`open_store` or
:meth:`Store.add_secrets`: configs, environments, point metas, native timings and error messages
are passed through :func:`redact` before they are written.
"""

from __future__ import annotations

from tokbench.store.db import FINAL_STATUSES, RUN_STATUSES, RunInfo, Store
from tokbench.store.open import backup_db, check_db, default_db_path, open_store, resolve_db_path
from tokbench.store.redact import redact

__all__ = [
    "FINAL_STATUSES", "RUN_STATUSES", "RunInfo", "Store", "backup_db", "check_db", "default_db_path",
    "open_store", "redact", "resolve_db_path",
]
