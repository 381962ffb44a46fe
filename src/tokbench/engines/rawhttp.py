"""A minimal HTTP/1.1 client for one streamed POST, on an asyncio Protocol.

Why: at hundreds of concurrent streams the client's own per-request work (aiohttp builds a
request object, headers, a connection, a response, a stream reader ...) delays every request
start, and TTFT measured at high concurrency becomes the client's queue, not the server's
(benchmarks/results/client_capacity.md). This path does the minimum: one connection per request
(``Connection: close``), the request written in one call, the response decoded as it arrives
(Content-Length, chunked, or close-delimited bodies), each network read timestamped once and
handed to a feed function. Plain HTTP only; ``https`` endpoints use aiohttp.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tokbench.engines.protocol import EngineError, clock

Feed = Callable[[bytes, float], bool]  # (body bytes, arrival time) -> True when the stream is done


class _Conn(asyncio.Protocol):
    def __init__(self, feed: Feed, done: asyncio.Future):
        self.feed, self.done = feed, done
        self.head = b""
        self.status = 0
        self.mode = ""  # "length" | "chunked" | "close"
        self.left = 0
        self.cbuf = b""
        self.error_body = b""
        self.ended = False  # the chunked body's last (size 0) chunk was seen
        self.retry_after = ""  # the server's Retry-After on 429/503, kept in the error message
        self.transport = None
        self.last = clock()  # when the last byte arrived (the idle timeout counts from here)

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.last = clock()

    def data_received(self, data: bytes) -> None:
        t = self.last = clock()
        if not self.mode:
            self.head += data
            head, sep, rest = self.head.partition(b"\r\n\r\n")
            if not sep:
                return
            self._headers(head)
            data = rest
        try:
            self._body(data, t)
        except EngineError as exc:
            self._finish(exc)

    def _headers(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        self.mode = "close"
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            k, v = k.strip().lower(), v.strip().lower()
            if k == b"transfer-encoding" and b"chunked" in v:
                self.mode = "chunked"
            elif k == b"content-length" and self.mode != "chunked":
                self.mode, self.left = "length", int(v)
            elif k == b"retry-after":
                self.retry_after = v.decode(errors="replace")[:40]

    def _body(self, data: bytes, t: float) -> None:
        if self.mode == "chunked":
            self.cbuf += data
            data = self._dechunk()
        elif self.mode == "length":
            self.left -= len(data)
        if self.status != 200:
            self.error_body += data
            if self.mode == "length" and self.left <= 0:
                self._finish(self._http_error())
            return
        if data and self.feed(data, t):
            self._finish(None)
        elif (self.mode == "length" and self.left <= 0) or self.ended:
            self._finish(EngineError("truncated_stream", "response ended before the final event"))

    def _dechunk(self) -> bytes:
        out = []
        while True:
            if self.left > 0:  # inside a chunk's data
                piece, self.cbuf = self.cbuf[:self.left], self.cbuf[self.left:]
                self.left -= len(piece)
                out.append(piece)
                if self.left > 0:
                    break
                self.left = -2  # expect the CRLF after the data
            if self.left == -2:
                if len(self.cbuf) < 2:
                    break
                self.cbuf, self.left = self.cbuf[2:], 0
            line, sep, rest = self.cbuf.partition(b"\r\n")
            if not sep:
                break
            size = int(line.split(b";")[0] or b"0", 16)
            self.cbuf = rest
            if size == 0:
                self.ended = True
                break
            self.left = size
        return b"".join(out)

    def _http_error(self) -> EngineError:
        # Retry-After first: the body is cut to fit, the server's hint must survive.
        prefix = f"Retry-After: {self.retry_after}; " if self.retry_after else ""
        return EngineError(f"http_{self.status}", (prefix + self.error_body.decode(errors="replace"))[:300])

    def connection_lost(self, exc) -> None:
        if self.status and self.status != 200:
            self._finish(self._http_error())
        elif not self.mode:  # closed before a response: the same class aiohttp's path gives
            self._finish(EngineError("connect", "server closed the connection before responding"))
        else:
            self._finish(EngineError("truncated_stream", "connection closed before the final event"))

    def _finish(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(exc)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


async def post_stream(host: str, port: int, path: str, headers: dict[str, str], body: bytes, feed: Feed,
                      idle_timeout_s: float | None = None) -> None:
    """POST ``body`` and feed the response body to ``feed`` until it says done; EngineError on failure
    (``timeout_idle`` when no byte arrives for ``idle_timeout_s``, headers included)."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    try:
        transport, proto = await loop.create_connection(lambda: _Conn(feed, done), host, port)
    except OSError as exc:
        raise EngineError("connect", str(exc)) from None
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
            f"Content-Length: {len(body)}", "Accept: text/event-stream"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    transport.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    try:
        # One timer per idle period, not per read: wake when the period is up, re-arm from the
        # last byte's time if data came meanwhile.
        while not done.done():
            wait = None if idle_timeout_s is None else idle_timeout_s - (clock() - proto.last)
            if wait is not None and wait <= 0:
                raise EngineError("timeout_idle", f"no data from the server for {idle_timeout_s:g} s")
            await asyncio.wait({done}, timeout=wait)
        done.result()
    finally:
        if not done.done():  # we stopped waiting (idle timeout, cancel): closing must not set
            done.cancel()    # an exception nobody will read ("Future exception was never retrieved")
        if not transport.is_closing():
            transport.close()
