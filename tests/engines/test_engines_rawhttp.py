"""The raw streaming HTTP client: body framing decoded whatever way the bytes are split."""

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from tokbench.engines.rawhttp import _Conn

EVENTS = [b'data: {"choices":[{"text":"a","finish_reason":null}]}\n\n'] * 5 + [b"data: [DONE]\n\n"]


def _chunked(parts):
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def _feed_split(wire: bytes, cuts: list[int]):
    loop = asyncio.new_event_loop()
    try:
        done = loop.create_future()
        got = []

        def feed(data, t):  # as the SSE reader: done once the [DONE] line is complete
            got.append(data)
            return b"[DONE]\n" in b"".join(got)

        conn = _Conn(feed, done)
        conn.transport = None
        bounds = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
        for a, b in zip(bounds, bounds[1:]):
            conn.data_received(wire[a:b])
        return b"".join(got), done
    finally:
        loop.close()


HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_chunked_body_survives_any_split(cuts):
    body, done = _feed_split(HEAD_CHUNKED + _chunked(EVENTS), cuts)
    whole = b"".join(EVENTS)
    assert body == whole[:len(body)] and b"data: [DONE]\n" in body  # every byte up to the final event, in order
    assert done.done() and done.exception() is None


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_content_length_and_error_status(cuts):
    wire = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\n\r\noverloads"
    body, done = _feed_split(wire, cuts)
    assert body == b""
    assert done.exception().error_class == "http_503"


def test_chunked_end_without_final_event_is_truncated():
    body, done = _feed_split(HEAD_CHUNKED + _chunked(EVENTS[:2]), [])
    assert done.exception().error_class == "truncated_stream"


def test_connections_are_kept_alive_warmed_and_never_reused_after_close():
    """Against a real keep-alive HTTP server (aiohttp): requests reuse a connection, warm() opens
    them ahead, and a response that says Connection: close is not reused."""
    from aiohttp import web

    from tokbench.engines.rawhttp import Pool, post_stream

    peers = []

    async def stream(request):
        peers.append(request.transport.get_extra_info("peername")[1])
        close = request.query.get("close") == "1"
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **({"Connection": "close"} if close else {})})
        await resp.prepare(request)
        for e in EVENTS:
            await resp.write(e)
        await resp.write_eof()
        return resp

    async def main():
        app = web.Application()
        app.router.add_post("/s", stream)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        pool = Pool("127.0.0.1", port)
        try:
            def feed(data, t, got=[]):  # noqa: B006 - one stream's bytes
                got.append(data)
                return b"[DONE]\n" in b"".join(got[-3:])

            await pool.warm(3)
            warmed = len(pool.idle)
            for _ in range(3):
                await post_stream("127.0.0.1", port, "/s", {}, b"{}", lambda d, t, g=[]: feed(d, t, g), 10, pool)
                await asyncio.sleep(0.05)  # the chunked terminator reaches the pool
            await post_stream("127.0.0.1", port, "/s?close=1", {}, b"{}", lambda d, t, g=[]: feed(d, t, g), 10, pool)
            await asyncio.sleep(0.05)
            await post_stream("127.0.0.1", port, "/s", {}, b"{}", lambda d, t, g=[]: feed(d, t, g), 10, pool)
            return warmed
        finally:
            pool.close()
            await runner.cleanup()

    warmed = asyncio.run(main())
    assert warmed == 3
    assert len(set(peers[:3])) == 1 and peers[3] == peers[0]  # one kept-alive connection served them
    assert peers[4] != peers[3]  # the one the server closed was not reused


def test_server_that_drops_kept_alive_connections_costs_at_most_one_request():
    """A server that closes a connection after one streamed response without ``Connection: close``,
    when the next request arrives on it: the request that meets the close fails with a line that
    says why, and the pool stops reusing, so every later request gets its response."""
    from tokbench.engines.protocol import EngineError
    from tokbench.engines.rawhttp import Pool, post_stream

    served = []

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(2)  # the "{}" body
        served.append(writer.get_extra_info("peername")[1])
        writer.write(HEAD_CHUNKED + _chunked(EVENTS))
        await writer.drain()
        await reader.read(1)  # the next request on this connection is closed on, unanswered
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = Pool("127.0.0.1", port)
        ok = 0
        try:
            errors = []
            for _ in range(6):
                got = []
                try:
                    await post_stream("127.0.0.1", port, "/s", {}, b"{}",
                                      lambda d, t: got.append(d) or b"[DONE]\n" in b"".join(got), 10, pool)
                except EngineError as exc:
                    errors.append(exc)
                ok += b"[DONE]" in b"".join(got)
            return ok, pool.reuse, errors
        finally:
            pool.close()
            server.close()
            await server.wait_closed()

    ok, reuse, errors = asyncio.run(main())
    assert ok == 5 and len(served) == 5 and not reuse  # without the switch: 3 of 6 (every other one)
    assert len(errors) == 1 and "no longer reused" in str(errors[0]) and errors[0].error_class == "connect"


def test_a_terminator_split_across_reads_is_not_read_as_the_next_response():
    """The chunked body's last empty line arriving in a later read than its "0" chunk: the connection
    goes back to the pool only after it, so the next request on it parses a clean response."""
    from tokbench.engines.rawhttp import Pool, post_stream

    seen = []

    async def handle(reader, writer):
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(2)
                seen.append(writer.get_extra_info("peername")[1])
                wire = HEAD_CHUNKED + _chunked(EVENTS)
                writer.write(wire[:-2])  # ... "0\r\n" now, the final "\r\n" a moment later
                await writer.drain()
                await asyncio.sleep(0.02)
                writer.write(b"\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = Pool("127.0.0.1", port)
        bodies = []
        try:
            for _ in range(4):
                got = []
                await post_stream("127.0.0.1", port, "/s", {}, b"{}",
                                  lambda d, t: got.append(d) or b"[DONE]\n" in b"".join(got), 10, pool)
                bodies.append(b"".join(got))
                await asyncio.sleep(0.05)  # the terminator's last bytes have come: the connection is idle
            return bodies, pool.reuse
        finally:
            pool.close()
            server.close()
            await server.wait_closed()

    bodies, reuse = asyncio.run(main())
    assert all(b"[DONE]" in b for b in bodies) and reuse
    assert len(set(seen)) == 1  # one kept-alive connection served all four


def test_a_server_that_closes_after_each_response_stops_reuse_at_once():
    """llama-server (this project's CPU build, read with a raw socket) ends a streamed response with
    "0\\r\\n", then "\\r\\n" in a read of its own, then closes the connection without having said
    Connection: close. The first such close turns reuse off, before any request can meet one."""
    from tokbench.engines.rawhttp import Pool, post_stream

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(2)
        wire = HEAD_CHUNKED + _chunked(EVENTS)
        writer.write(wire[:-2])
        await writer.drain()
        await asyncio.sleep(0.002)
        writer.write(b"\r\n")
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = Pool("127.0.0.1", port)
        ok, reuse_after = 0, []
        try:
            for _ in range(4):
                got = []
                await post_stream("127.0.0.1", port, "/s", {}, b"{}",
                                  lambda d, t: got.append(d) or b"[DONE]\n" in b"".join(got), 10, pool)
                ok += b"[DONE]" in b"".join(got)
                await asyncio.sleep(0.02)
                reuse_after.append(pool.reuse)
            return ok, reuse_after
        finally:
            pool.close()
            server.close()
            await server.wait_closed()

    ok, reuse_after = asyncio.run(main())
    assert ok == 4 and reuse_after == [False] * 4


def test_reads_decoded_in_batches_keep_their_own_arrival_times(monkeypatch):
    """Reads are kept and decoded later, but each event reaches the feed with the time its read
    arrived, in order; the batch is decoded as soon as a read may end the response."""
    import tokbench.engines.rawhttp as rawhttp

    ticks = iter(range(1, 1000))
    monkeypatch.setattr(rawhttp, "clock", lambda: float(next(ticks)))
    loop = asyncio.new_event_loop()
    try:
        done = loop.create_future()
        got = []

        def feed(data, t):
            got.append((data, t))
            return b"[DONE]" in data

        conn = _Conn(feed, done)
        conn.transport = None
        wire = [HEAD_CHUNKED] + [b"%x\r\n%s\r\n" % (len(e), e) for e in EVENTS] + [b"0\r\n\r\n"]
        for i, data in enumerate(wire):
            conn.data_received(data)
            if i < len(EVENTS):  # events without [DONE]: kept, not decoded yet
                assert not done.done() and len(got) == 0 and len(conn.pending) == i
        assert done.done() and done.exception() is None
        # arrival times: the clock ran once per read (the head's read took time 1 after the
        # connection's own creation stamp)
        times = [t for _, t in got]
        assert times == sorted(times) and len(set(times)) == len(EVENTS)
        assert [d for d, _ in got] == EVENTS
    finally:
        loop.close()


def _server(script):
    """A loopback server: each connection runs ``script(writer)`` after reading a request."""
    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(HEAD_CHUNKED)
        await writer.drain()
        await asyncio.sleep(0.05)  # the head in a read of its own: the events are read as a body's
        await script(writer)

    return asyncio.start_server(handle, "127.0.0.1", 0)


async def _events(writer, n):
    for _ in range(n):  # one read each
        writer.write(b"%x\r\n%s\r\n" % (len(EVENTS[0]), EVENTS[0]))
        await writer.drain()
        await asyncio.sleep(0.02)


def test_tokens_before_a_stall_cancel_or_close_reach_the_feed():
    """Reads kept for batch decoding are decoded before a timeout, a cancel or a server close is
    acted on: the tokens that arrived are never lost from the record."""
    from tokbench.engines.protocol import EngineError
    from tokbench.engines.rawhttp import Pool, post_stream

    async def stall(writer):
        await _events(writer, 3)
        await asyncio.sleep(30)

    async def close(writer):
        await _events(writer, 3)
        await asyncio.sleep(0.05)
        writer.close()

    async def one(script, timeout, cancel_after=None):
        server = await _server(script)
        port = server.sockets[0].getsockname()[1]
        got = []

        def feed(data, t):
            got.append(data)
            return False

        task = asyncio.ensure_future(post_stream("127.0.0.1", port, "/", {}, b"{}", feed, timeout, Pool("127.0.0.1", port)))
        try:
            if cancel_after is not None:
                await asyncio.sleep(cancel_after)
                task.cancel()
            try:
                await task
                error = None
            except EngineError as exc:
                error = exc.error_class
            except asyncio.CancelledError:
                error = "cancelled"
        finally:
            server.close()
        return error, b"".join(got).count(b"data:")

    assert asyncio.run(one(stall, 0.3)) == ("timeout_idle", 3)
    assert asyncio.run(one(stall, 10, cancel_after=0.3)) == ("cancelled", 3)
    assert asyncio.run(one(close, 10)) == ("truncated_stream", 3)
