"""Event-loop lag watchdog: how late the client itself reads what the server sends.

Every timestamp is taken by an event-loop callback; if the loop is busy, chunks wait in the socket
and their timestamps come late, inflating ITL and TTFT. A ticker asks to wake every ``interval``
seconds and records how late it wakes; that lateness bounds the client's own timing error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tokbench.engines.protocol import clock


@dataclass
class LagStats:
    """Lateness of the event loop during a phase, in milliseconds."""

    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    def distorting(self, itl_ms: float | None = None) -> bool:
        """True when lag could distort timings: p99 over 5 ms, or over 10% of the median ITL."""
        limit = 5.0 if not itl_ms else min(5.0, 0.10 * itl_ms)
        return self.p99_ms > limit

    def to_dict(self) -> dict:
        """Plain dict for point metadata."""
        return {"samples": self.samples, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "max_ms": self.max_ms}


class LagMonitor:
    """Run as a task during a phase; ``stats()`` summarizes the lateness seen."""

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        self._lags: list[float] = []
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        while True:
            due = clock() + self.interval
            await asyncio.sleep(self.interval)
            self._lags.append(max(0.0, clock() - due))

    def start(self) -> None:
        """Start ticking on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> LagStats:
        """Stop ticking and return the statistics."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        return self.stats()

    def stats(self) -> LagStats:
        """Percentiles of the lag samples so far (zeros when none)."""
        if not self._lags:
            return LagStats(0, 0.0, 0.0, 0.0)
        s = sorted(self._lags)
        pick = lambda q: s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] * 1e3  # noqa: E731
        return LagStats(len(s), pick(0.5), pick(0.99), s[-1] * 1e3)
