"""tokbench.safewrite: destination checks, no-clobber commit (with and without hard links), directories."""

from __future__ import annotations

import errno
import os

import pytest

from tokbench import safewrite
from tokbench.errors import UserError


def test_write_text_new_existing_forced(tmp_path):
    p, replaced = safewrite.write_text(tmp_path / "a.txt", "one")
    assert (p.read_text(), replaced) == ("one", False)
    with pytest.raises(UserError, match="exists; pass --force"):
        safewrite.write_text(tmp_path / "a.txt", "two")
    assert safewrite.write_text(tmp_path / "a.txt", "two", force=True) == (p, True) and p.read_text() == "two"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.txt"]


@pytest.mark.parametrize("bad", ["", ".", "..", "dir"])
def test_names_that_are_not_files(tmp_path, monkeypatch, bad):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir").mkdir()
    with pytest.raises(UserError) as exc:
        safewrite.write_text(bad, "x", force=True)
    assert "\n" not in str(exc.value)
    assert [x.name for x in tmp_path.iterdir()] == ["dir"]


def test_parent_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        safewrite.write_text(tmp_path / "f" / "out.md", "y")


def test_commit_without_hard_links_still_refuses_to_clobber(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(safewrite.os, "link", no_link)
    p, _ = safewrite.write_text(tmp_path / "a.txt", "one")
    assert p.read_text() == "one"
    tmp = safewrite.temp_file(p)
    tmp.write_text("two")
    with pytest.raises(UserError, match="appeared while writing"):
        safewrite.commit_file(tmp, p)
    assert p.read_text() == "one" and not tmp.exists()


def test_commit_dir_empty_target_and_forced_replace(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    tmp = safewrite.temp_dir(dest)
    (tmp / "f").write_text("new")
    assert safewrite.commit_dir(tmp, dest) is False and (dest / "f").read_text() == "new"
    tmp = safewrite.temp_dir(dest)
    (tmp / "f").write_text("newer")
    with pytest.raises(UserError, match="gained files"):
        safewrite.commit_dir(tmp, dest)
    assert (dest / "f").read_text() == "new" and not tmp.exists()
    tmp = safewrite.temp_dir(dest)
    (tmp / "f").write_text("newer")
    assert safewrite.commit_dir(tmp, dest, force=True) is True and (dest / "f").read_text() == "newer"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out"]


def test_check_dir_dest(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(UserError, match="not empty"):
        safewrite.check_dir_dest(tmp_path / "full")
    with pytest.raises(UserError, match="holds files"):
        safewrite.check_dir_dest(tmp_path / "full", force=True)  # no owner check given: never replaced
    assert safewrite.check_dir_dest(tmp_path / "full", True, replaceable=lambda p: None) == tmp_path / "full"


def test_missing_dirs_removed_after_failure(tmp_path):
    target = tmp_path / "a" / "b" / "c.txt"
    made = safewrite.missing_dirs(target)
    assert made == [tmp_path / "a", tmp_path / "a" / "b"]
    safewrite.make_parent(target)
    safewrite.remove_empty(made)
    assert list(tmp_path.iterdir()) == []


def test_temp_names_are_unique_and_hidden(tmp_path):
    a, b = safewrite.temp_file(tmp_path / "r.md"), safewrite.temp_file(tmp_path / "r.md")
    assert a != b and a.name.startswith(".tokbench-tmp-") and a.parent == tmp_path
    mask = os.umask(0o022)
    os.umask(mask)
    assert a.stat().st_mode & 0o777 == 0o666 & ~mask  # the mode a plain open() gives, not mkstemp's 0600
