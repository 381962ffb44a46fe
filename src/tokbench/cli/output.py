"""Shared output helpers for commands: JSON printing and the rich console."""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def _clean(value: Any) -> Any:
    # JSON has no NaN/inf: print null rather than invalid JSON.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def print_json(doc: Any) -> None:
    """Print ``doc`` as indented, strictly valid JSON on stdout."""
    json.dump(_clean(doc), sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def console(stderr: bool = False):
    """A rich Console (imported lazily: rich costs ~50 ms to import).

    Writing to a pipe or file, rich assumes 80 columns and cuts table cells to fit ("ryzen-ai-max-…");
    there the width is 200, so ids and names come through whole for grep and copy-paste.
    """
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    tty = hasattr(stream, "isatty") and stream.isatty()
    return Console(stderr=stderr, highlight=False, width=None if tty else 200)
