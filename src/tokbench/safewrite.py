"""Writes that never destroy what they did not create.

Every command that writes a file a user named (``synth --out``, ``report --out``, ``export --out``,
``db backup --out``) goes through here: the destination is checked before any work starts (an
existing file or a non-empty directory is refused unless ``force``; with ``force`` only what the
caller recognises as its own kind of output is replaced), data goes to a unique temporary name in
the same directory, and only a complete result is renamed into place. Without ``force`` the final
rename cannot replace a file that appeared meanwhile (``os.link`` fails on an existing name).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from tokbench.errors import UserError

# Prefix of temporary names: hidden, and clearly tokbench's should one survive a power cut.
TMP_PREFIX = ".tokbench-tmp-"


def _default_mode(is_dir: bool) -> int:
    """The mode a plain ``open``/``mkdir`` would give (mkstemp/mkdtemp make private 0600/0700 entries)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return (0o777 if is_dir else 0o666) & ~mask


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def check_file_dest(path: str | os.PathLike, force: bool = False, flag: str = "--out",
                    replaceable: Callable[[Path], str | None] | None = None, parent_must_exist: bool = False) -> Path:
    """``path`` as a Path after checking that a file may be written there; UserError (one line) when not.

    Refused: a directory; an existing file without ``force``; with ``force``, an existing file for which
    ``replaceable(path)`` returns a reason (a string) it is not this command's kind of output; a
    missing parent directory when ``parent_must_exist``.
    """
    p = Path(path).expanduser()
    if str(path) == "" or p.name in ("", ".", ".."):
        raise UserError(f"{flag} '{path}' names no file")
    if p.is_dir():
        raise UserError(f"{flag} {p} is a directory; give a file path")
    if p.exists() or p.is_symlink():
        if not force:
            raise UserError(f"{flag} {p} exists; pass --force to replace it")
        if not p.is_file():
            raise UserError(f"{flag} {p} is not a regular file; not replacing it")
        reason = replaceable(p) if replaceable else None
        if reason:
            raise UserError(f"{flag} {p} {reason}; not replacing it even with --force")
    parent = p.parent
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{flag} {p}: {parent} is not a directory")
    if parent_must_exist and not parent.is_dir():
        raise UserError(f"{flag} {p}: directory {parent} does not exist")
    return p


def check_dir_dest(path: str | os.PathLike, force: bool = False, flag: str = "--out",
                   replaceable: Callable[[Path], str | None] | None = None) -> Path:
    """``path`` after checking that a directory of output may be created there (see :func:`check_file_dest`).

    A missing path or an empty directory is fine; a file is refused; a non-empty directory needs
    ``force`` and ``replaceable(path)`` returning None (it holds only this command's earlier output).
    """
    p = Path(path).expanduser()
    if str(path) == "":
        raise UserError(f"{flag} '' names no directory")
    if p.exists() and not p.is_dir():
        raise UserError(f"{flag} {p} is a file; this output is a directory, give a new or empty directory")
    if p.is_dir() and any(p.iterdir()):
        if not force:
            raise UserError(f"{flag} {p} is a directory that is not empty; give a new or empty directory "
                            f"(or --force to replace tokbench's own earlier output)")
        reason = replaceable(p) if replaceable else "holds files"
        if reason:
            raise UserError(f"{flag} {p} {reason}; not replacing it even with --force")
    return p


def missing_dirs(path: Path) -> list[Path]:
    """The ancestors of ``path`` that do not exist yet, outermost first (to remove after a failed write)."""
    out = []
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            break
        out.append(parent)
    return out[::-1]


def remove_empty(dirs: list[Path]) -> None:
    """Remove ``dirs`` (from :func:`missing_dirs`) innermost first, where they are still empty."""
    for d in reversed(dirs):
        try:
            d.rmdir()
        except OSError:
            return


def make_parent(path: Path, flag: str = "--out") -> None:
    """Create ``path``'s missing parent directories (creating destroys nothing); UserError when impossible."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{flag} {path}: cannot create {path.parent} ({_why(exc)})") from None


def temp_file(path: Path, flag: str = "--out") -> Path:
    """A new, empty, uniquely named file beside ``path`` (same file system, so the rename is atomic)."""
    make_parent(path, flag)
    try:
        fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix="-" + path.name[:64], dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write in {path.parent} ({_why(exc)})") from None
    os.close(fd)
    os.chmod(name, _default_mode(False))
    return Path(name)


def temp_dir(path: Path, flag: str = "--out") -> Path:
    """A new, empty, uniquely named directory beside ``path``."""
    make_parent(path, flag)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, suffix="-" + path.name[:64], dir=path.parent))
    except OSError as exc:
        raise UserError(f"cannot write in {path.parent} ({_why(exc)})") from None
    os.chmod(tmp, _default_mode(True))
    return tmp


def commit_file(tmp: Path, path: Path, force: bool = False, flag: str = "--out") -> bool:
    """Rename the finished ``tmp`` to ``path``; returns True when an existing file was replaced.

    Without ``force`` a file that appeared at ``path`` since the check is kept (UserError) and ``tmp``
    is removed; with ``force`` the rename replaces it atomically.
    """
    existed = path.exists()
    try:
        if force:
            os.replace(tmp, path)
            return existed
        try:
            os.link(tmp, path)  # fails on an existing name: the no-clobber rename POSIX offers
        except FileExistsError:
            raise UserError(f"{flag} {path} appeared while writing; kept it, nothing written") from None
        except OSError as exc:
            # File systems without hard links (FAT, some network mounts): check, then rename.
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.EXDEV):
                raise
            if path.exists():
                raise UserError(f"{flag} {path} appeared while writing; kept it, nothing written") from None
            os.replace(tmp, path)
            return False
        tmp.unlink()
        return False
    except OSError as exc:
        raise UserError(f"cannot write {path} ({_why(exc)})") from None
    finally:
        tmp.unlink(missing_ok=True)


def commit_dir(tmp: Path, path: Path, force: bool = False, flag: str = "--out") -> bool:
    """Move the finished directory ``tmp`` to ``path``; returns True when earlier output was replaced.

    ``path`` may be missing or an empty directory (``rename`` replaces an empty directory and fails on
    a non-empty one, so nothing a user put there can be lost). With ``force`` a non-empty ``path``
    (already checked by :func:`check_dir_dest`) is moved aside, replaced, then deleted.
    """
    old = None
    try:
        try:
            os.rename(tmp, path)
            return False
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not force:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise UserError(f"{flag} {path} gained files while writing; kept them, nothing written") from None
                raise
        old = Path(tempfile.mkdtemp(prefix=TMP_PREFIX + "old-", dir=path.parent))
        os.rename(path, old / "out")
        try:
            os.rename(tmp, path)
        except OSError:
            os.rename(old / "out", path)  # put the earlier output back
            raise
        return True
    except OSError as exc:
        raise UserError(f"cannot write {path} ({_why(exc)})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str, force: bool = False, flag: str = "--out") -> tuple[Path, bool]:
    """Write ``text`` (UTF-8) to a file a user named, safely; returns (path, replaced).

    As a shell redirection would, this needs the file's directory to exist already."""
    p = check_file_dest(path, force, flag, parent_must_exist=True)
    tmp = temp_file(p, flag)
    try:
        tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {p} ({_why(exc)})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p, commit_file(tmp, p, force, flag)
