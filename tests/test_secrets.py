"""An API key given by --api-key or by environment never reaches the database, a report, an export,
a log or an error message.

Real ``tokbench bench`` processes run against the fault server, whose ``echo_auth`` fault answers
HTTP 500 with the bare key in its body (a careless server); then every output tokbench can make
of the runs is produced, and every byte of all of it (stdout, stderr, database and its WAL,
reports, exports, backups, anything written under HOME or TMPDIR) is searched for the key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "faults"))
from tb_fault_server import FaultServer  # noqa: E402

# Distinctive, and shaped like no known token format (no "sk-", no "Bearer"), so only explicit
# knowledge of the key can mask it.
FLAG_KEY = "tbkeyQ7xZp2LmVw9RsTn4flag"
ENV_KEY = "tbkeyK3yUe8HbWq1NcJd6env"
BENCH = ["--concurrency", "1", "--requests", "4", "--context-depth", "8", "--gen-tokens", "3", "--warmup", "0"]


def _cli(args: list[str], env: dict, cwd: Path, outputs: list[bytes], expect: int | None = 0):
    p = subprocess.run([sys.executable, "-m", "tokbench", *args], capture_output=True, env=env, cwd=cwd, timeout=120)
    outputs += [p.stdout, p.stderr]
    if expect is not None:
        assert p.returncode == expect, (args, p.returncode, p.stderr.decode()[-2000:])
    return p


def _env(tmp: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("API_KEY", "_TOKEN"))}
    env.update(HOME=str(tmp / "home"), TMPDIR=str(tmp / "tmp"), XDG_DATA_HOME=str(tmp / "home" / "data"),
               XDG_CACHE_HOME=str(tmp / "home" / "cache"), TOKBENCH_DB=str(tmp / "t.db"), **extra)
    for d in ("home", "tmp"):
        (tmp / d).mkdir(exist_ok=True)
    return env


def _leaks(blobs: list[bytes], tmp: Path, key: str) -> list[str]:
    """Where ``key`` (or its distinctive middle, in case it was cut) shows up."""
    needles = [key.encode(), key[5:17].encode()]
    found = [f"output #{i}" for i, b in enumerate(blobs) if any(n in b for n in needles)]
    for f in tmp.rglob("*"):
        if f.is_file() and any(n in f.read_bytes() for n in needles):
            found.append(str(f.relative_to(tmp)))
    return found


@pytest.fixture()
def server():
    with FaultServer() as srv:
        yield srv


def test_api_key_never_stored_or_printed(server, tmp_path):
    outputs: list[bytes] = []
    # Run 1: key by flag; the server echoes it back in two failing requests.
    server.script[:] = ["ok", "ok", "echo_auth", "ok", "echo_auth"]  # preflight, then 4 measured
    env = _env(tmp_path)
    _cli(["bench", "--endpoint", server.url, "--api-key", FLAG_KEY, "--name", "flag-run", "--json", *BENCH],
         env, tmp_path, outputs)
    # Run 2: key by environment variable.
    server.script[:] = ["ok", "echo_auth", "ok", "ok", "ok"]
    env2 = _env(tmp_path, TOKBENCH_API_KEY=ENV_KEY)
    _cli(["bench", "--endpoint", server.url, "--name", "env-run", *BENCH], env2, tmp_path, outputs)
    assert {FLAG_KEY, ENV_KEY} <= {a.split(" ")[-1] for a in server.auth_seen}  # the keys were really sent

    runs = json.loads(_cli(["runs", "--json"], env, tmp_path, outputs).stdout)
    runs = runs.get("runs", runs) if isinstance(runs, dict) else runs
    ids = [r["id"] for r in runs]
    assert len(ids) == 2
    for run_id in ids:
        for fmt in ("json", "csv"):
            _cli(["export", run_id, "--format", fmt, "--out", str(tmp_path / f"{run_id}.{fmt}")], env, tmp_path, outputs)
        _cli(["export", run_id], env, tmp_path, outputs)
    for fmt in ("md", "html", "json"):
        _cli(["report", "--format", fmt, "--out", str(tmp_path / f"report.{fmt}")], env, tmp_path, outputs)
        _cli(["report", "--format", fmt], env, tmp_path, outputs)
    _cli(["db", "backup", "--out", str(tmp_path / "backup.db")], env, tmp_path, outputs)
    _cli(["db", "check"], env, tmp_path, outputs, expect=None)

    # The failing requests really were recorded, with the server's message, minus the key.
    records = json.loads((tmp_path / f"{ids[0]}.json").read_text())
    text = json.dumps(records)
    assert "invalid api key" in text and "http_500" in text

    assert _leaks(outputs, tmp_path, FLAG_KEY) == []
    assert _leaks(outputs, tmp_path, ENV_KEY) == []


def test_api_key_not_in_preflight_error(server, tmp_path):
    """A server that echoes the key on the preflight request: the one-line error names the
    failure but not the key."""
    outputs: list[bytes] = []
    server.default = "echo_auth"
    p = _cli(["bench", "--endpoint", server.url, "--api-key", FLAG_KEY, *BENCH], _env(tmp_path), tmp_path,
             outputs, expect=2)
    assert b"preflight" in p.stderr and b"invalid api key" in p.stderr
    assert _leaks(outputs, tmp_path, FLAG_KEY) == []
