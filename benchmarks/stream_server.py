"""A fast scripted OpenAI-style streaming server for measuring *clients* (not a model server).

Each streamed POST /v1/completions (or /v1/chat/completions) sends ``max_tokens`` tokens (``--tokens``
when the request names none): the first chunk ``TTFT`` after the request arrived, then one chunk
every ``GAP``, on an absolute schedule (chunk i is due at t0 + TTFT + i * GAP, so a late write
never shifts the next), then a usage chunk and [DONE]. ``--tokens-per-chunk K`` puts K tokens in
each chunk (as speculative decoding or a stream interval does: chunk j is due at TTFT + j x K x GAP,
so tokens still come at 1/GAP per second), and ``--continuous-usage`` adds the running count to every
chunk (as vLLM's ``continuous_usage_stats``). A non-streamed POST answers at once with usage (prompt tokens = words
+ 1), which clients use to count prompt lengths; ``--tokenize`` adds vLLM's ``POST /tokenize``. A request without
``Connection: close`` gets a chunked response on a kept-alive connection (as uvicorn serves vLLM,
SGLang and llama-cpp-python), one with it a close-delimited one.
The usage chunk also carries the server's own timing of the request (``server_ttft_ms``: request
read to first chunk written), and ``GET /stats`` returns (and resets) the server's view of the
streams since the last call: median TTFT and per-token gap as written ((last - first write) /
(tokens - 1) per stream), and how late its ticker ran, so a client's TTFT and ITL can be compared
with what the server actually did.

Raw asyncio protocol (no web framework) and one 1 ms ticker for all streams, so one core can serve
100k+ chunks per second. GET /v1/models answers the clients' preflight; every other path is 404.

Run: python benchmarks/stream_server.py PORT [--ttft-ms 20] [--gap-ms 10] [--tokens 100]
     [--tokens-per-chunk 1] [--continuous-usage] [--tokenize]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
HEAD_KEEP = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"


class Schedule:
    """Streams due per millisecond slot; one ticker writes every due chunk."""

    def __init__(self, ttft: float, gap: float, n: int, per_chunk: int = 1, continuous: bool = False):
        self.ttft, self.gap, self.n, self.per_chunk, self.continuous = ttft, gap, n, per_chunk, continuous
        self.slots: dict[int, list] = defaultdict(list)
        self.ttfts: list[float] = []  # as written: request read -> first chunk (server's view)
        self.gaps: list[float] = []  # per stream: (last write - first write) / (tokens - 1), as written
        self.late: list[float] = []  # how late chunks were written against their schedule

    def stats(self) -> dict:
        """The server's view since the last call (medians in ms), then reset."""
        def med(xs):
            xs = sorted(xs)
            return xs[len(xs) // 2] * 1000.0 if xs else None

        late = sorted(self.late)
        out = {"requests": len(self.ttfts), "ttft_ms_p50": med(self.ttfts), "gap_ms_p50": med(self.gaps),
               "late_ms_p99": late[int(0.99 * (len(late) - 1))] * 1000.0 if late else None}
        self.ttfts, self.gaps, self.late = [], [], []
        return out

    def add(self, stream) -> None:
        self.slots[int((stream.t0 + self.ttft) * 1000)].append(stream)

    async def run(self) -> None:
        done_ms = int(time.perf_counter() * 1000)
        while True:
            # Until the next millisecond slot (uvloop's timers count whole milliseconds: a 0.5 ms
            # sleep returned at once, and the ticker spun a core at 100% even with no stream).
            await asyncio.sleep(max(0.0, (done_ms + 1) / 1000 - time.perf_counter()))
            now_ms = int(time.perf_counter() * 1000)
            for ms in range(done_ms + 1, now_ms + 1):
                for s in self.slots.pop(ms, ()):
                    self._emit(s)
            done_ms = now_ms

    def _emit(self, s) -> None:
        if s.transport.is_closing():
            return
        k = min(self.per_chunk, s.n - s.sent)
        now = time.perf_counter()
        self.late.append(max(0.0, now - (s.t0 + self.ttft + s.sent * self.gap)))
        if s.sent == 0:
            s.t_first = now
            self.ttfts.append(now - s.t0)
        s.sent += k
        s.write(s.chunk(k, s.sent if self.continuous else None))
        if s.sent < s.n:
            self.slots[int((s.t0 + self.ttft + s.sent * self.gap) * 1000)].append(s)
            return
        if s.n > 1:
            # The stream's per-token rate as written (what a client's ITL and decode tok/s measure):
            # a late ticker writes chunks in bursts, so gaps between single writes would say less.
            self.gaps.append((now - s.t_first) / (s.n - 1))
        usage = {"choices": [], "usage": {"prompt_tokens": s.prompt_tokens, "completion_tokens": s.n,
                                          "total_tokens": s.prompt_tokens + s.n},
                 "server_ttft_ms": (s.t_first - s.t0) * 1000.0}
        s.write(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
        s.end()


class Http(asyncio.Protocol):
    """Minimal HTTP/1.1: requests by Content-Length, one at a time per connection (kept alive unless
    the client says ``Connection: close``)."""

    def __init__(self, sched: Schedule, tokenize: bool):
        self.sched, self.tokenize, self.buf = sched, tokenize, b""
        self.keep = False
        self.busy = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while not self.busy:
            head, sep, body = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            lines = head.split(b"\r\n")
            method, path = lines[0].split(b" ")[:2]
            length, keep = 0, True
            for line in lines[1:]:
                k, _, v = line.partition(b":")
                k = k.strip().lower()
                if k == b"content-length":
                    length = int(v)
                elif k == b"connection" and b"close" in v.lower():
                    keep = False
            if len(body) < length:
                return
            self.buf = body[length:]
            self.keep = keep
            self.handle(method, path, body[:length])

    def write(self, data: bytes) -> None:
        """Body bytes of the streamed response (a chunk of the chunked encoding when kept alive)."""
        self.transport.write(b"%x\r\n%s\r\n" % (len(data), data) if self.keep else data)

    def end(self) -> None:
        """The streamed response is over: the terminator and the next request, or close."""
        self.busy = False
        if not self.keep:
            self.transport.close()
            return
        self.transport.write(b"0\r\n\r\n")
        if self.buf:
            self.data_received(b"")

    def reply(self, doc: dict) -> None:
        """A JSON answer."""
        body = json.dumps(doc).encode()
        conn = b"" if self.keep else b"Connection: close\r\n"
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
                             % (len(body), conn) + body)
        if not self.keep:
            self.transport.close()

    _cache: dict = {}

    def chunk(self, k: int, running: int | None) -> bytes:
        key = (self.chat, k)
        if running is None and key in self._cache:  # the common case: built once
            return self._cache[key]
        text = " tok" * k
        if self.chat:
            doc = {"id": "x", "object": "chat.completion.chunk",
                   "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
        else:
            doc = {"id": "x", "object": "text_completion", "choices": [{"index": 0, "text": text, "finish_reason": None}]}
        if running is not None:
            doc["usage"] = {"prompt_tokens": self.prompt_tokens, "completion_tokens": running}
        out = b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"
        if running is None:
            self._cache[key] = out
        return out

    def handle(self, method: bytes, path: bytes, body: bytes) -> None:
        t = self.transport
        if method == b"GET" and path.startswith(b"/v1/models"):
            self.reply({"object": "list", "data": [{"id": "fake", "object": "model"}]})
            return
        if method == b"GET" and path == b"/stats":
            self.reply(self.sched.stats())
            return
        if method == b"POST" and path == b"/tokenize" and self.tokenize:
            req = json.loads(body or b"{}")
            n = 1 + len(str(req.get("prompt", "")).split())
            self.reply({"count": n, "max_model_len": 1 << 20, "tokens": list(range(n))})
            return
        if method == b"POST" and path in (b"/v1/completions", b"/v1/chat/completions"):
            req = json.loads(body or b"{}")
            prompt = req.get("prompt") or " ".join(m.get("content", "") for m in req.get("messages", []))
            self.prompt_tokens = len(prompt) if isinstance(prompt, list) else 1 + len(str(prompt).split())
            self.n = int(req.get("max_tokens") or self.sched.n)
            if not req.get("stream"):  # usage at once: what clients count prompt lengths with
                self.reply({"choices": [{"index": 0, "text": " tok", "finish_reason": "length"}],
                            "usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": 1}})
                return
            self.t0 = time.perf_counter()
            self.sent = 0
            self.chat = b"chat" in path
            self.busy = True
            t.write(HEAD_KEEP if self.keep else HEAD)
            self.sched.add(self)
            return
        t.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        t.close()


async def serve(port: int, ttft_ms: float, gap_ms: float, tokens: int, per_chunk: int = 1,
                continuous: bool = False, tokenize: bool = False) -> None:
    """Serve forever on 127.0.0.1:port."""
    sched = Schedule(ttft_ms / 1000, gap_ms / 1000, tokens, per_chunk, continuous)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Http(sched, tokenize), "127.0.0.1", port, backlog=4096)
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
    ap.add_argument("--tokens-per-chunk", type=int, default=1)
    ap.add_argument("--continuous-usage", action="store_true")
    ap.add_argument("--tokenize", action="store_true")
    a = ap.parse_args()
    try:
        import uvloop  # the server is not what is measured: make it as fast as possible

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(a.port, a.ttft_ms, a.gap_ms, a.tokens, a.tokens_per_chunk, a.continuous_usage, a.tokenize))


if __name__ == "__main__":
    main()
