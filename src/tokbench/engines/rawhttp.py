"""A minimal HTTP/1.1 client for streamed POSTs, on asyncio Protocols, with kept-alive connections.

Why: at hundreds of concurrent streams the client's own per-request work delays every request
start, and TTFT measured at high concurrency becomes the client's queue, not the server's
(benchmarks/results/client_capacity.md). Opening a TCP connection is most of that work (socket and
connect system calls, ~50 us each on the 2-core VM, and the server's accept), so connections are
kept alive between requests (:class:`Pool`) and can be opened before a point starts
(:meth:`Pool.warm`): a request start is then one write. The response is decoded as it arrives
(Content-Length, chunked, or close-delimited bodies), each network read timestamped once and
handed to a feed function. A connection goes back to the pool only after its response ended
cleanly (chunked terminator or full Content-Length, no ``Connection: close``), and is reused only
within IDLE_S of its last byte: servers close idle connections after ~5 s. Some servers also close a
kept-alive connection after a streamed response without saying so (llama-server on the H200: every
other request failed with "closed before responding"). Before reuse a connection is checked for a
close that already arrived (a non-blocking peek), and the first unannounced close of a reused
connection turns reuse off for that server: every later request opens its own connection. The
request that met it is recorded as failed, not sent again: on the wire it cannot be told from a
server that read the request and then dropped it, and a POST is not sent twice. A chunked body ends
only when its trailer's empty line has arrived, so no byte of one response is left on the connection
to be read as the start of the next (on the H200, llama-server's final CRLF came in a read of its
own, the next request met it, and the switch above never fired: every other request was lost). A
server that closes a connection within CLOSE_AFTER_RESPONSE_S of a response's end (llama-server
after every streamed response, measured on this project's CPU build) turns reuse off at once, so the
race above is left only for a request that takes the connection in those microseconds. Plain HTTP
only; ``https`` endpoints use aiohttp.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tokbench.engines.protocol import EngineError, clock

Feed = Callable[[bytes, float], bool]  # (body bytes, arrival time) -> True when the stream is done
# Reads kept at most before they are decoded. Small: what is still kept when a stream ends is
# decoded then, at the moment hundreds of closed-loop streams end and start together.
DRAIN_READS = 16
IDLE_S = 2.0  # pooled connections older than this are dropped: servers time idle ones out after ~5 s
# A server close this soon after a response's last byte is the server's habit, not an idle timeout.
CLOSE_AFTER_RESPONSE_S = 0.05


class _Conn(asyncio.Protocol):
    """One connection; serves one response at a time (``start`` arms it for the next)."""

    def __init__(self, feed: Feed | None = None, done: asyncio.Future | None = None, pool: Pool | None = None):
        self.pool = pool
        self.transport = None
        self.closed = False
        self.ours = False
        self.last = clock()  # when the last byte arrived (the idle timeout counts from here)
        self._arm(feed, done)

    def _arm(self, feed: Feed | None, done: asyncio.Future | None) -> None:
        self.feed, self.done = feed, done
        self.head = b""
        self.status = 0
        self.mode = ""  # "length" | "chunked" | "close"
        self.left = 0
        self.cbuf = b""
        self.error_body = b""
        self.ended = False  # the body's end was seen (chunked terminator, Content-Length reached)
        self.keep = True  # the server lets the connection be reused
        self.got_bytes = False
        self.retry_after = ""  # the server's Retry-After on 429/503, kept in the error message
        self.finished = False  # the stream's final event was seen (the response may still be ending)
        # A 200 chunked body is being read: reads are kept, then decoded in batches (``data_received``),
        # and reads of whole chunks take the short path (``_whole_chunks``).
        self.lazy = False
        self.pending: list[tuple[bytes, float]] = []  # reads not decoded yet: (bytes, arrival time)

    def start(self, feed: Feed, done: asyncio.Future) -> None:
        """Use this (idle) connection for the next response."""
        self._arm(feed, done)
        self.last = clock()

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.last = clock()

    def data_received(self, data: bytes) -> None:
        t = self.last = clock()
        if self.lazy:
            # Inside a 200 chunked body, a read is only timestamped and kept; reads are decoded in
            # batches: when a read may end the response (the terminator's bytes, [DONE]), every
            # DRAIN_READS reads, and before any close, timeout or cancel is acted on. Decoding the
            # same reads in one tight loop costs a fraction of decoding each one as it comes, between
            # the event loop's system calls (caches cold): the per-read cost that decides how many
            # streams one core times cleanly (benchmarks/client_capacity.py). Timings are the
            # reads' own arrival times either way.
            pending = self.pending
            pending.append((data, t))
            if (len(data) < 8 or data.endswith(b"\r\n\r\n") or b"[DONE]" in data
                    or len(pending) >= DRAIN_READS):
                self.drain()
            return
        self._read(data, t)

    def drain(self) -> None:
        """Decode every read kept so far (see ``data_received``)."""
        pending, self.pending = self.pending, []
        for data, t in pending:
            if self.done is None:  # the response ended on an earlier read: these bytes belong to
                self._close()  # no request (what an idle connection does with them)
                break
            self._read(data, t)

    def _read(self, data: bytes, t: float) -> None:
        try:
            if self.lazy and not self.left and not self.cbuf:
                payload = _whole_chunks(data)
                if payload is not None:
                    if not self.finished and self.feed(payload, t):
                        self.finished = True
                        self._finish(None)
                    return
            self.got_bytes = True
            if self.done is None:  # bytes on an idle connection: it is no longer in a known state
                self._close()
                return
            if not self.mode:
                self.head += data
                head, sep, rest = self.head.partition(b"\r\n\r\n")
                if not sep:
                    return
                self._headers(head)
                self.lazy = self.mode == "chunked" and self.status == 200
                data = rest
            self._body(data, t)
        except EngineError as exc:
            self._finish(exc)

    def _headers(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        self.mode = "close"
        self.keep = lines[0].startswith(b"HTTP/1.1")
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            k, v = k.strip().lower(), v.strip().lower()
            if k == b"transfer-encoding" and b"chunked" in v:
                self.mode = "chunked"
            elif k == b"content-length" and self.mode != "chunked":
                self.mode, self.left = "length", int(v)
            elif k == b"connection" and b"close" in v:
                self.keep = False
            elif k == b"retry-after":
                self.retry_after = v.decode(errors="replace")[:40]

    def _body(self, data: bytes, t: float) -> None:
        if self.mode == "chunked":
            self.cbuf += data
            data = self._dechunk()
        elif self.mode == "length":
            self.left -= len(data)
            self.ended = self.left <= 0
        if self.status != 200:
            self.error_body += data
            if self.ended:
                self._finish(self._http_error())
            return
        if not self.finished and data and self.feed(data, t):
            self.finished = True
            self._finish(None)
        elif not self.finished and self.ended:
            self._finish(EngineError("truncated_stream", "response ended before the final event"))
        if self.finished and self.ended:
            self._release()

    def _dechunk(self) -> bytes:
        # Positions into one buffer rather than re-slicing what is left after each chunk: a read
        # often carries several chunks, and this runs once per network read of every stream.
        buf, pos, out = self.cbuf, 0, []
        n = len(buf)
        while True:
            if self.left > 0:  # inside a chunk's data
                take = min(self.left, n - pos)
                out.append(buf[pos:pos + take])
                pos += take
                self.left -= take
                if self.left > 0:
                    break
                self.left = -2  # expect the CRLF after the data
            if self.left == -2:
                if n - pos < 2:
                    break
                pos += 2
                self.left = 0
            if self.left == -3:  # after the last chunk: the trailer section, ended by an empty line
                if buf.startswith(b"\r\n", pos):
                    pos, self.ended = pos + 2, True
                    break
                end = buf.find(b"\r\n\r\n", pos)
                if end >= 0:
                    pos, self.ended = end + 4, True
                break
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            size = int(buf[pos:eol].split(b";")[0] or b"0", 16)
            pos = eol + 2
            # The last chunk. The body ends with the trailer section's empty line, which may come
            # in a later read: a connection released before it would meet those two bytes when
            # armed for the next request (the H200's llama-server lost every other request so).
            self.left = size if size else -3
        self.cbuf = buf[pos:] if pos else buf
        return out[0] if len(out) == 1 else b"".join(out)

    def _http_error(self) -> EngineError:
        # Retry-After first: the body is cut to fit, the server's hint must survive.
        prefix = f"Retry-After: {self.retry_after}; " if self.retry_after else ""
        return EngineError(f"http_{self.status}", (prefix + self.error_body.decode(errors="replace"))[:300])

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.pending:  # what arrived before the close decides how the response ended
            self.drain()
        if self.pool is not None:
            self.pool.forget(self)
            if (self.done is None and not self.ours and self.got_bytes
                    and clock() - self.last < CLOSE_AFTER_RESPONSE_S):
                # The server closed this connection right after its response (llama-server does so
                # after every streamed one, without saying Connection: close): stop reusing before a
                # request meets such a close.
                self.pool.reuse = False
        if self.done is None or self.done.done():
            return
        if self.status and self.status != 200:
            self._finish(self._http_error())
        elif not self.mode:  # closed before a response: the same class aiohttp's path gives
            self._finish(EngineError("connect", "server closed the connection before responding"))
        else:
            self._finish(EngineError("truncated_stream", "connection closed before the final event"))

    def _finish(self, exc: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            if exc is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(exc)
        if exc is not None or not (self.keep and self.mode in ("chunked", "length")):
            self._close()
        elif self.ended:
            self._release()

    def _release(self) -> None:
        """The response is over and the connection reusable: back to the pool."""
        if self.closed or self.done is None:
            return
        self.done = self.feed = None
        self.lazy = False
        if self.pool is not None and self.keep and not self.cbuf:
            self.pool.put(self)
        else:
            self._close()

    def _close(self) -> None:
        self.ours = True  # closed by this client, not the server
        self.done = self.feed = None
        self.lazy = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


def _whole_chunks(data: bytes) -> bytes | None:
    """The payload of ``data`` when it is one or more whole non-empty chunks, else None.

    Nearly every read of a token stream is that (one chunk, or a few when the reader fell behind);
    decoding it without the general decoder's buffer and state machine is the short path. Anything
    else (a partial chunk, the terminator, a chunk extension) goes to the general decoder, and
    nothing was consumed."""
    n, pos, parts = len(data), 0, []
    while pos < n:
        eol = data.find(b"\r\n", pos, pos + 12)
        if eol <= pos:
            return None
        try:
            end = eol + 2 + int(data[pos:eol], 16)
        except ValueError:  # a chunk extension (";name=value") or not a size line
            return None
        if end <= eol + 2 or data[end:end + 2] != b"\r\n":  # empty (the last chunk), negative or cut
            return None
        parts.append(data[eol + 2:end])
        pos = end + 2
    return parts[0] if len(parts) == 1 else b"".join(parts) if parts else None


def _open(conn: _Conn) -> bool:
    """False when anything already reached this idle connection's socket: the server's close (the
    event loop may not have run ``connection_lost`` yet) or bytes nobody asked for; either way it
    is not fit for a request. A zero-timeout select: no read, no descriptor duplicated (a dup per
    request start cost ~160 us on the 2-core VM, serial at a point's start)."""
    import select

    sock = conn.transport.get_extra_info("socket") if conn.transport is not None else None
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock.fileno()], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class Pool:
    """Idle kept-alive connections to one host:port."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.idle: list[_Conn] = []
        self.reuse = True  # False once the server closed a kept-alive connection without notice

    def put(self, conn: _Conn) -> None:
        """An idle connection, ready for the next request (closed instead if this server drops them)."""
        if not self.reuse and conn.got_bytes:  # warmed connections (no request yet) are still used once
            conn._close()
            return
        conn.last = clock()
        self.idle.append(conn)

    def forget(self, conn: _Conn) -> None:
        """A connection the server closed."""
        try:
            self.idle.remove(conn)
        except ValueError:
            pass

    def take(self) -> _Conn | None:
        """The most recently used idle connection that is still fresh, else None."""
        now = clock()
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed and now - conn.last < IDLE_S and not conn.transport.is_closing() and _open(conn):
                return conn
            conn._close()
        return None

    async def open(self) -> _Conn:
        """A new connection (EngineError ``connect`` when it cannot be made)."""
        loop = asyncio.get_running_loop()
        try:
            _, proto = await loop.create_connection(lambda: _Conn(pool=self), self.host, self.port)
        except OSError as exc:
            raise EngineError("connect", str(exc)) from None
        return proto

    async def warm(self, n: int) -> None:
        """Have ``n`` idle connections open (before a point's requests start together)."""
        fresh = [c for c in self.idle if not c.closed]
        need = max(0, n - len(fresh))
        conns = await asyncio.gather(*(self.open() for _ in range(need)), return_exceptions=True)
        for c in conns:
            if isinstance(c, _Conn):
                self.put(c)

    def close(self) -> None:
        """Close every idle connection."""
        for c in self.idle:
            c._close()
        self.idle.clear()


async def post_stream(host: str, port: int, path: str, headers: dict[str, str], body: bytes, feed: Feed,
                      idle_timeout_s: float | None = None, pool: Pool | None = None) -> None:
    """POST ``body`` and feed the response body to ``feed`` until it says done; EngineError on failure
    (``timeout_idle`` when no byte arrives for ``idle_timeout_s``, headers included). With ``pool``,
    a kept-alive connection is used and returned when the response has ended."""
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}",
            "Accept: text/event-stream"] + ([] if pool is not None else ["Connection: close"])
    head += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    reused = pool.take() if pool is not None and pool.reuse else None
    try:
        await _send(reused or await (pool or Pool(host, port)).open(), request, feed, idle_timeout_s, pool)
    except EngineError as exc:
        # No response had started (no status line; stray bytes of an earlier response do not count):
        # the server closed a kept-alive connection as the request went out on it.
        if reused is not None and exc.error_class == "connect" and not reused.status:
            pool.reuse = False  # the server drops kept-alive connections unannounced: no reuse from now on
            pool.close()
            raise EngineError("connect", "server closed a kept-alive connection before responding (connections "
                                         "are no longer reused with this server)") from None
        raise


async def _send(conn: _Conn, request: bytes, feed: Feed, idle_timeout_s: float | None, pool: Pool | None) -> None:
    done = asyncio.get_running_loop().create_future()
    conn.start(feed, done)
    if pool is None:
        conn.pool = None
    conn.transport.write(request)
    try:
        await _wait(conn, done, idle_timeout_s)
    finally:
        if conn.pending:  # cancelled: the tokens that did arrive still reach the feed (and the record)
            conn.drain()
        if not done.done() or done.cancelled():  # we stopped waiting (cancel): the server must stop
            done.cancel()  # streaming, and closing must not set an exception nobody will read
            conn._close()


async def _wait(conn: _Conn, done: asyncio.Future, idle_timeout_s: float | None) -> None:
    """Until the response's final event, or ``timeout_idle`` after ``idle_timeout_s`` without a byte.

    One timer per idle period, not per read (nor an ``asyncio.wait`` per request: its waiter and
    callbacks cost ~10 us at each request start): when it fires it re-arms from the last byte's time
    if data came meanwhile."""
    if idle_timeout_s is None:
        await done
        return
    loop = asyncio.get_running_loop()
    timer = None

    def check() -> None:
        nonlocal timer
        if conn.pending:
            conn.drain()
        if done.done():
            return
        left = idle_timeout_s - (clock() - conn.last)
        if left <= 0:
            done.set_exception(EngineError("timeout_idle", f"no data from the server for {idle_timeout_s:g} s"))
            conn._close()
        else:
            timer = loop.call_later(left, check)

    timer = loop.call_later(idle_timeout_s, check)
    try:
        await done
    finally:
        timer.cancel()
