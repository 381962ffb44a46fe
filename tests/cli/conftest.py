import pytest


@pytest.fixture
def db(tmp_path, monkeypatch):
    """A database path for the command under test, given through TOKBENCH_DB."""
    path = tmp_path / "cli.db"
    monkeypatch.setenv("TOKBENCH_DB", str(path))
    return path
