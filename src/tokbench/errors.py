"""Errors a user can cause, and the close-match helper used to explain them.

Every command turns a :class:`UserError` into one line on stderr and exit code 2 (see
``tokbench.cli.main``); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input a user can give (unknown name, malformed file, bad flag value): exit 2, one line."""

    exit_code = 2


def close_matches(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` names from ``choices`` that look like ``name`` (case-insensitive)."""
    pool = list(choices)
    lower = {c.lower(): c for c in pool}
    hits = difflib.get_close_matches(name.lower(), list(lower), n=n, cutoff=0.5)
    # Prefix/substring hits first: "m3-ultra" should suggest "m3-ultra-80c" even if the ratio is low.
    sub = [c for c in pool if name.lower() in c.lower() and c not in hits]
    out = [lower[h] for h in hits]
    return (sub + [h for h in out if h not in sub])[:n]


def unknown(kind: str, name: str, choices: Iterable[str]) -> UserError:
    """A :class:`UserError` for an unknown ``kind`` called ``name``, naming close matches."""
    pool = sorted(set(choices))
    hints = close_matches(name, pool)
    if hints:
        return UserError(f"unknown {kind} '{name}'; did you mean: {', '.join(hints)}?")
    return UserError(f"unknown {kind} '{name}'; known: {', '.join(pool[:12])}{' ...' if len(pool) > 12 else ''}")
