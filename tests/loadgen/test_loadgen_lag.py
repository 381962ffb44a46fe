"""The event-loop lag watchdog sees a blocked loop."""

import asyncio
import time

from tokbench.loadgen.lag import LagMonitor


def test_blocked_loop_is_reported():
    async def main():
        mon = LagMonitor(interval=0.005)
        mon.start()
        await asyncio.sleep(0.05)
        time.sleep(0.08)  # the loop is blocked: the ticker wakes ~80 ms late
        await asyncio.sleep(0.03)
        return await mon.stop()

    stats = asyncio.run(main())
    assert stats.max_ms >= 60
    assert stats.distorting()


def test_idle_loop_is_clean():
    async def main():
        mon = LagMonitor(interval=0.005)
        mon.start()
        await asyncio.sleep(0.1)
        return await mon.stop()

    stats = asyncio.run(main())
    assert stats.samples >= 5
    assert stats.p50_ms < 5
