"""The floor under any Python streaming client on this machine: CPU one core spends when it does nothing
with a streamed response but timestamp each network read (uvloop, raw asyncio protocols).

Beside benchmarks/client_capacity.py: the share of the client core this floor takes at N streams is
what no parsing, however lean, can get under. Start the scripted server first (pinned to core 0),
then run this pinned to core 1; every stream sends 2 requests one after the other.

Run: taskset -c 0 python benchmarks/stream_server.py PORT --ttft-ms 20 --gap-ms 10 --tokens 100 &
     taskset -c 1 python benchmarks/client_floor.py PORT [--streams 256,448]
Measured 2026-11-30 on the 2-core EPYC VM (quiet): 256 streams 40-42% of the core, 448 streams 64-66%.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time

BODY = (b'{"model":"fake","prompt":"w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15",'
        b'"max_tokens":100,"stream":true}')
REQUEST = (b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(BODY)) + BODY


class _Reads(asyncio.Protocol):
    """Timestamps each read; done at the [DONE] event."""

    def __init__(self, done: asyncio.Future):
        self.done, self.times = done, []

    def data_received(self, data: bytes) -> None:
        self.times.append(time.perf_counter())
        if b"[DONE]" in data and not self.done.done():
            self.done.set_result(None)


async def _stream(port: int) -> None:
    loop = asyncio.get_running_loop()
    for _ in range(2):
        done = loop.create_future()
        transport, _ = await loop.create_connection(lambda: _Reads(done), "127.0.0.1", port)
        transport.write(REQUEST)
        await done
        transport.close()


async def _point(port: int, n: int) -> tuple[float, float]:
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    await asyncio.gather(*(_stream(port) for _ in range(n)))
    r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    return t1 - t0, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main() -> None:
    import uvloop

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("port", type=int)
    ap.add_argument("--streams", default="256,448")
    a = ap.parse_args()
    for n in (int(x) for x in a.streams.split(",")):
        wall, cpu = uvloop.run(_point(a.port, n))
        print(f"{n} streams: {wall:.2f} s, client CPU {cpu:.2f} s = {cpu / wall:.0%} of one core")


if __name__ == "__main__":
    main()
