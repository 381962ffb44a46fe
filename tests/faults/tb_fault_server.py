"""A fault-injecting OpenAI-compatible streaming server for the fault tests (real sockets, loopback).

It looks like ``python -m llama_cpp.server`` to tokbench's HTTP engine (``GET /v1/models``,
``POST /extras/tokenize`` and ``/extras/tokenize/count``, which count whitespace-separated words
plus one, so exact prompts are cheap; ``tokenize_delay`` makes each count slow, ``models_delay`` the
preflight), and answers ``POST /v1/completions`` and ``/v1/chat/completions`` with SSE streams in the
OpenAI shape (one content chunk per token, a usage chunk, then ``data: [DONE]``).

Each generation request takes the next entry of ``script`` (then ``default``); an entry is
``MODE`` or ``MODE:ARG``:

- ``ok``                 a normal stream of ``max_tokens`` tokens, ``token_delay`` s apart
- ``slow_first:S``       wait S seconds before the response starts, then a normal stream
- ``stall:K``            K tokens, then nothing more while the connection stays open
- ``stall_headers``      never send the response headers (connection open)
- ``http_CODE``          status CODE (429, 500, 503 ...) with ``Retry-After`` and a JSON error body
- ``echo_auth``          HTTP 500 whose body repeats the request's API key (a careless server: the
                         client must not let the key through into its records, output or errors)
- ``malformed_sse:K``    K tokens, then a ``data:`` line that is not JSON
- ``malformed_json:K``   K tokens, then ``data:`` JSON of the wrong shape (a list, choices not a list)
- ``truncate:K``         K tokens, then a clean end of the HTTP body without ``[DONE]``
- ``reset:K``            K tokens, then the TCP connection is aborted mid-body
- ``drop``               close the connection before any response
- ``error_event:K``      K tokens, then ``data: {"error": ...}``

In-process use: ``with FaultServer(script=[...]) as srv: srv.url`` (its own thread and event loop,
so tests, the engine and subprocesses can all reach it). Subprocess use (to be SIGKILLed):
``python tb_fault_server.py --script ok,stall:2 --default ok`` prints ``PORT <n>`` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import threading
import time
from collections import Counter
from itertools import count

from aiohttp import web

MODEL = "fault-model"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now (for connection-refused tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parse(entry: str) -> tuple[str, str]:
    mode, _, arg = entry.partition(":")
    return mode.strip(), arg.strip()


class FaultApp:
    """The aiohttp application and its per-request fault script (shared by thread and subprocess use)."""

    def __init__(self, script: list[str] | None = None, default: str = "ok", token_delay: float = 0.0,
                 retry_after: int = 2, stall_s: float = 3600.0, tokenize_delay: float = 0.0,
                 models_delay: float = 0.0):
        self.script = list(script or [])
        self.tokenize_delay, self.models_delay = tokenize_delay, models_delay
        self.tokenize_calls = self.models_calls = 0
        self.default = default
        self.token_delay = token_delay
        self.retry_after = retry_after
        self.stall_s = stall_s
        self.served: Counter[str] = Counter()  # mode -> generation requests received
        self.auth_seen: list[str] = []
        self.completed = 0  # ok streams written to the end
        self._ids = count()
        self._lock = threading.Lock()

    def next_mode(self) -> tuple[str, str]:
        """The fault for the next generation request."""
        with self._lock:
            entry = self.script.pop(0) if self.script else self.default
        mode, arg = _parse(entry)
        self.served[mode] += 1
        return mode, arg

    def app(self) -> web.Application:
        a = web.Application()
        a.router.add_get("/v1/models", self.models)
        a.router.add_post("/extras/tokenize/count", self.count_tokens)
        a.router.add_post("/extras/tokenize", self.tokenize)
        a.router.add_post("/v1/completions", self.generate)
        a.router.add_post("/v1/chat/completions", self.generate)
        return a

    async def models(self, request: web.Request) -> web.Response:
        self.models_calls += 1
        await asyncio.sleep(self.models_delay)
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    async def count_tokens(self, request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"count": len(str(body.get("input", "")).split())})

    async def tokenize(self, request: web.Request) -> web.Response:
        self.tokenize_calls += 1
        await asyncio.sleep(self.tokenize_delay)
        body = await request.json()
        return web.json_response({"tokens": list(range(len(str(body.get("input", "")).split())))})

    async def generate(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.auth_seen.append(request.headers.get("Authorization", ""))
        n = int(body.get("max_tokens") or 16)
        n_prompt = len(str(body.get("prompt") or body.get("messages") or "").split())
        mode, arg = self.next_mode()
        k = int(arg) if arg.isdigit() else 1
        if mode == "drop":
            request.transport.close()
            await asyncio.sleep(0.05)
            raise ConnectionResetError("dropped on purpose")
        if mode == "stall_headers":
            await asyncio.sleep(self.stall_s)
        if mode == "slow_first":
            await asyncio.sleep(float(arg or 1))
        if mode.startswith("http_"):
            code = int(mode[5:])
            err = {"error": {"message": f"injected HTTP {code}", "type": "server_error", "code": code}}
            return web.json_response(err, status=code, headers={"Retry-After": str(self.retry_after)})
        if mode == "echo_auth":
            # The bare token (no "Bearer " before it), so only the client's own knowledge of its
            # key can mask it: pattern-based redaction would not see it.
            token = request.headers.get("Authorization", "").split(" ")[-1]
            return web.Response(status=500, text=f"invalid api key {token} for this deployment")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        sent = 0
        for i in range(n if mode in ("ok", "slow_first") else min(k, n)):
            await self._send(resp, self._chunk(i, n))
            sent += 1
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
        return await self._ending(request, resp, mode, sent, n_prompt)

    async def _ending(self, request, resp, mode: str, sent: int, n_prompt: int) -> web.StreamResponse:
        """How the stream ends: normally, or with the fault of ``mode``."""
        if mode in ("ok", "slow_first"):
            usage = {"prompt_tokens": n_prompt, "completion_tokens": sent, "total_tokens": n_prompt + sent}
            await self._send(resp, {"id": "cmpl", "object": "text_completion", "choices": [], "usage": usage})
            await resp.write(b"data: [DONE]\n\n")
            self.completed += 1  # whole stream handed to the socket
        elif mode == "stall":
            await asyncio.sleep(self.stall_s)
        elif mode == "malformed_sse":
            await resp.write(b'data: {"choices": [{"text": "x", "index"\n\n')
        elif mode == "malformed_json":
            await resp.write(b'data: ["not", "an", "object"]\n\n')
            await resp.write(b'data: {"choices": 5}\n\n')
        elif mode == "error_event":
            await self._send(resp, {"error": {"message": "injected error event", "code": 500}})
        elif mode == "reset":
            request.transport.abort()  # no chunked terminator: the client sees a broken body
            return resp
        # truncate (and the fault endings above): end the body cleanly, no [DONE]
        await resp.write_eof()
        return resp

    def _chunk(self, i: int, n: int) -> dict:
        choice = {"index": 0, "text": f" tok{i}", "finish_reason": "length" if i == n - 1 else None}
        return {"id": "cmpl", "object": "text_completion", "model": MODEL, "choices": [choice]}

    @staticmethod
    async def _send(resp: web.StreamResponse, obj: dict) -> None:
        await resp.write(b"data: " + json.dumps(obj).encode() + b"\n\n")


class FaultServer(FaultApp):
    """The fault app served on 127.0.0.1 from a background thread (context manager)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL in the OpenAI form (``.../v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FaultServer:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def boot() -> None:
            self._runner = web.AppRunner(self.app(), shutdown_timeout=0.5, handler_cancellation=True)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(boot())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="fault-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fault server did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        try:
            fut.result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._loop = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def spawn(script: str = "", default: str = "ok", token_delay: float = 0.0):
    """Start the server as a subprocess (so a test can SIGKILL it); returns (Popen, port)."""
    import subprocess

    proc = subprocess.Popen([sys.executable, __file__, "--script", script, "--default", default,
                             "--token-delay", str(token_delay)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"fault server subprocess did not start: {line!r}")
    return proc, int(line.split()[1])


def _main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--script", default="")
    ap.add_argument("--default", default="ok")
    ap.add_argument("--token-delay", type=float, default=0.0)
    a = ap.parse_args()
    srv = FaultServer([s for s in a.script.split(",") if s], a.default, a.token_delay).start()
    print(f"PORT {srv.port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":
    _main()
