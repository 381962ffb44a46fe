"""A fast scripted OpenAI-style streaming server for measuring *clients* (not a model server).

Each POST /v1/completions (or /v1/chat/completions) streams ``N`` one-token SSE chunks: the first
``TTFT`` after the request arrived, then one every ``GAP``, on an absolute schedule (token i is due
at t0 + TTFT + i * GAP, so a late write never shifts the next), then a usage chunk and [DONE].
Raw asyncio protocol (no web framework) and one 1 ms ticker for all streams, so one core can
serve 100k+ chunks per second; responses are close-delimited HTTP/1.1. GET /v1/models answers
the clients' preflight; every other path is 404.

Run: python benchmarks/stream_server.py PORT [--ttft-ms 20] [--gap-ms 10] [--tokens 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict

CHUNK = b'data: {"id":"x","object":"text_completion","choices":[{"index":0,"text":" tok","finish_reason":null}]}\n\n'
CHAT = b'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" tok"},"finish_reason":null}]}\n\n'
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"


class Schedule:
    """Streams due per millisecond slot; one ticker writes every due chunk."""

    def __init__(self, ttft: float, gap: float, n: int):
        self.ttft, self.gap, self.n = ttft, gap, n
        self.slots: dict[int, list] = defaultdict(list)

    def add(self, stream) -> None:
        self.slots[int((stream.t0 + self.ttft) * 1000)].append(stream)

    async def run(self) -> None:
        done_ms = int(time.perf_counter() * 1000)
        while True:
            await asyncio.sleep(0.0005)
            now_ms = int(time.perf_counter() * 1000)
            for ms in range(done_ms + 1, now_ms + 1):
                for s in self.slots.pop(ms, ()):
                    self._emit(s)
            done_ms = now_ms

    def _emit(self, s) -> None:
        if s.transport.is_closing():
            return
        s.transport.write(s.chunk)
        s.sent += 1
        if s.sent < self.n:
            self.slots[int((s.t0 + self.ttft + s.sent * self.gap) * 1000)].append(s)
            return
        usage = {"choices": [], "usage": {"prompt_tokens": s.prompt_tokens, "completion_tokens": self.n,
                                          "total_tokens": s.prompt_tokens + self.n}}
        s.transport.write(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
        s.transport.close()


class Http(asyncio.Protocol):
    """Minimal HTTP/1.1: one request per connection, body by Content-Length."""

    def __init__(self, sched: Schedule):
        self.sched, self.buf = sched, b""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        head, sep, body = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return
        lines = head.split(b"\r\n")
        method, path = lines[0].split(b" ")[:2]
        length = 0
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        if len(body) < length:
            return
        self.handle(method, path, body[:length])

    def handle(self, method: bytes, path: bytes, body: bytes) -> None:
        t = self.transport
        if method == b"GET" and path.startswith(b"/v1/models"):
            doc = b'{"object":"list","data":[{"id":"fake","object":"model"}]}'
            t.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                    % len(doc) + doc)
            t.close()
            return
        if method == b"POST" and path in (b"/v1/completions", b"/v1/chat/completions"):
            req = json.loads(body or b"{}")
            self.t0 = time.perf_counter()
            self.sent = 0
            self.chunk = CHAT if b"chat" in path else CHUNK
            prompt = req.get("prompt") or " ".join(m.get("content", "") for m in req.get("messages", []))
            self.prompt_tokens = len(str(prompt).split())
            t.write(HEAD)
            self.sched.add(self)
            return
        t.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        t.close()


async def serve(port: int, ttft_ms: float, gap_ms: float, tokens: int) -> None:
    """Serve forever on 127.0.0.1:port."""
    sched = Schedule(ttft_ms / 1000, gap_ms / 1000, tokens)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Http(sched), "127.0.0.1", port, backlog=4096)
    ticker = asyncio.ensure_future(sched.run())
    async with server:
        await server.serve_forever()
    ticker.cancel()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("port", type=int)
    ap.add_argument("--ttft-ms", type=float, default=20)
    ap.add_argument("--gap-ms", type=float, default=10)
    ap.add_argument("--tokens", type=int, default=100)
    a = ap.parse_args()
    try:
        import uvloop  # the server is not what is measured: make it as fast as possible

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(a.port, a.ttft_ms, a.gap_ms, a.tokens))


if __name__ == "__main__":
    main()
