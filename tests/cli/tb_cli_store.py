"""Helpers shared by the CLI tests that need a database with a run in it."""

from __future__ import annotations

from tokbench.cli.main import main
from tokbench.records import RequestRecord
from tokbench.store import open_store


def run_cli(capsys, *argv):
    """Run one command in process; (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def seed(path) -> str:
    """A database at ``path`` with one complete run of three requests (one failed); its id."""
    with open_store(path) as s:
        run = s.create_run("bench", {"engine": "llama.cpp"}, {}, name="seeded")
        s.add_records(run, [RequestRecord(point="c=1 d=0", index=i, concurrency=1, context_depth=0, prompt_tokens=8,
                                          gen_tokens_requested=4, t_start=float(i), t_first_token=i + 0.1,
                                          t_end=i + 0.4, token_times=[i + 0.1, i + 0.2, i + 0.3, i + 0.4],
                                          output_tokens=4, status="ok" if i else "error") for i in range(3)])
        s.finish_run(run, "complete")
    return run
