"""Run ids: short, unique, and sortable by creation time (``20261125-123456-ab12``)."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone

RUN_ID_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}$")


def new_run_id(now: datetime | None = None) -> str:
    """UTC timestamp to the second plus 16 random bits; the store retries on the rare clash."""
    t = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{t:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def utc_now() -> str:
    """Current UTC time as ISO 8601 with a ``Z``, millisecond precision (sorts as text)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
