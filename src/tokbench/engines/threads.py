"""Blocking work (a model load, a synthesis, a bandwidth measurement) awaited from the event loop
without holding up Ctrl-C."""

from __future__ import annotations

import asyncio
import threading


async def in_daemon_thread(fn):
    """Run ``fn`` on a daemon thread and await its result. Unlike ``asyncio.to_thread`` (whose
    executor threads are joined at exit), a Ctrl-C during a long model load can end the process
    at once: the load is abandoned with the process."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def run() -> None:
        try:
            out = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
            out = exc
        try:
            loop.call_soon_threadsafe(_settle, fut, out)
        except RuntimeError:  # the loop ended meanwhile (the command was interrupted): nobody waits
            pass

    threading.Thread(target=run, name="tokbench-load", daemon=True).start()
    return await fut


def _settle(fut: asyncio.Future, outcome) -> None:
    if fut.done():
        return
    if isinstance(outcome, BaseException):
        fut.set_exception(outcome)
    else:
        fut.set_result(outcome)
