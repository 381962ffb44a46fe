"""Engines that start their own server for the run and stop it after: ``llama.cpp-server``
(``python -m llama_cpp.server``) and ``mlx-server`` (``mlx_lm.server``), on a free loopback port.

They are :class:`OpenAIEngine` once the server answers, so the same HTTP path is measured as for
any server given by ``--endpoint``. The server's stderr goes to ``log_path`` (llama-cpp-python
prints llama.cpp's own per-request ``llama_perf_context_print`` timings there when verbose;
benchmarks/bench_fidelity.py reads them).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tokbench.engines.openai_http import OpenAIEngine
from tokbench.errors import UserError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _LaunchedServer(OpenAIEngine):
    """Start a server process, wait until it answers, then behave as an OpenAI endpoint."""

    startup_timeout_s = 120.0

    def __init__(self, model: str | os.PathLike, log_path: str | None = None, **options):
        self.model_path = Path(model)
        self.port = free_port()
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="tokbench-server-", suffix=".log")[1])
        self._proc: subprocess.Popen | None = None
        self._options = options
        super().__init__(f"http://127.0.0.1:{self.port}/v1", model=self._model_name(), api_key="",
                         **self._engine_options(options))

    def _model_name(self) -> str:
        return self.model_path.name

    def _engine_options(self, options: dict) -> dict:
        return {k: v for k, v in options.items() if k in ("max_concurrency", "idle_timeout_s", "native")}

    def command(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    async def start(self) -> None:
        """Launch the server, wait for ``/v1/models``, then run the HTTP preflight."""
        if not self.model_path.exists():
            raise UserError(f"model not found: {self.model_path}")
        log = open(self.log_path, "wb")
        self._proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        try:
            await self._wait_ready()
            await super().start()
        except asyncio.CancelledError:  # Ctrl-C while it starts: no grace, the user is waiting
            self.kill()
            await OpenAIEngine.stop(self)
            raise
        except BaseException:
            await self.stop()
            raise

    async def _wait_ready(self) -> None:
        import aiohttp

        deadline = time.monotonic() + self.startup_timeout_s
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    tail = self.log_path.read_text(errors="replace")[-400:].strip().splitlines()
                    raise UserError(f"{self.name} exited at start ({self._proc.returncode}): {tail[-1] if tail else ''}")
                try:
                    async with s.get(f"{self.endpoint}/models", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            return
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise UserError(f"{self.name} did not answer within {self.startup_timeout_s:.0f} s (log: {self.log_path})")

    stop_grace_s = 5.0  # how long the server may take to exit on SIGTERM before it is killed

    async def stop(self) -> None:
        """Close the client, then SIGTERM the server (SIGKILL after ``stop_grace_s``). Polled on the
        event loop, not waited for in a thread: a Ctrl-C must not wait on a thread at exit."""
        await super().stop()
        proc = self._proc
        if proc is None or proc.poll() is not None:
            self._proc = None
            return
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace_s
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if proc.poll() is None:
            self.kill()
        self._proc = None

    def kill(self) -> None:
        """SIGKILL the server's process group at once (it was started in a session of its own)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._signal(signal.SIGKILL)
            try:
                proc.wait(1)
            except subprocess.TimeoutExpired:
                pass

    def _signal(self, sig) -> None:
        try:
            os.killpg(self._proc.pid, sig)  # the server and anything it spawned
        except (ProcessLookupError, PermissionError):
            try:
                self._proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def info(self):
        """As OpenAIEngine, named after the launcher, with the server command's model file."""
        info = super().info()
        info.extra.update(launcher=self.name, model_path=str(self.model_path), log=str(self.log_path))
        info.name = f"{self.name} ({info.name})"
        return info


# llama.cpp's split modes (llama.h enum llama_split_mode); row is refused on CUDA by the llama.cpp
# llama-cpp-python 0.3.36 vendors ("device CUDA0 does not support split buffers", 2x H200 run).
SPLIT_MODES = {"none": 0, "layer": 1, "row": 2, "tensor": 3}


class LlamaCppServerEngine(_LaunchedServer):
    """``python -m llama_cpp.server`` with a GGUF (llama-cpp-python's server: one request at a time).

    Spread over devices (issue 11): ``rpc=N`` starts N loopback rpc-servers first and the server
    through :mod:`tokbench.engines.rpc` (which registers them); ``split_mode`` / ``tensor_split``
    are llama.cpp's ``-sm`` / ``-ts`` over the GPUs of this machine."""

    name = "llama.cpp-server"

    def __init__(self, model, log_path: str | None = None, rpc: int = 0, split_mode: str | None = None,
                 tensor_split=(), **options):
        self.rpc = None
        if rpc:
            from tokbench.engines.rpc import RpcServers

            self.rpc = RpcServers(rpc, options.get("n_threads"))
        if split_mode is not None and split_mode not in SPLIT_MODES:
            from tokbench.errors import unknown

            raise unknown("split mode", split_mode, SPLIT_MODES)
        self.split_mode, self.tensor_split = split_mode, tuple(tensor_split or ())
        super().__init__(model, log_path, **options)

    async def start(self) -> None:
        """Start the rpc-servers (if any), then the server as every launched server starts."""
        if self.rpc is not None and self.model_path.exists():  # a missing model: the usual error, nothing started
            from tokbench.engines.threads import in_daemon_thread

            await in_daemon_thread(self.rpc.start)
        await super().start()

    async def stop(self) -> None:
        """Stop the server, then its rpc-servers."""
        try:
            await super().stop()
        finally:
            if self.rpc is not None:
                self.rpc.stop(self.stop_grace_s)

    def kill(self) -> None:
        """SIGKILL the server and its rpc-servers."""
        super().kill()
        if self.rpc is not None:
            self.rpc.kill()

    def command(self) -> list[str]:
        o = self._options
        n_ctx = int(o.get("n_ctx_per_seq") or 4096)
        if self.rpc is not None:
            head = [sys.executable, "-m", "tokbench.engines.rpc", "--rpc", ",".join(self.rpc.endpoints), "--"]
        else:
            head = [sys.executable, "-m", "llama_cpp.server"]
        cmd = [*head, "--model", str(self.model_path),
               "--model_alias", self.model, "--host", "127.0.0.1", "--port", str(self.port),
               "--n_ctx", str(n_ctx), "--verbose", "True",
               # Its default (True) aborts the running stream whenever a new request arrives;
               # a benchmark must let requests queue instead.
               "--interrupt_requests", "False"]
        if o.get("n_threads"):
            cmd += ["--n_threads", str(o["n_threads"]), "--n_threads_batch", str(o["n_threads"])]
        if self.rpc is not None or self.split_mode is not None:
            cmd += ["--n_gpu_layers", "-1"]  # every layer to the devices (RPC ones count as GPUs)
        if self.split_mode is not None:
            cmd += ["--split_mode", str(SPLIT_MODES[self.split_mode])]
        if self.tensor_split:
            cmd += ["--tensor_split", *(f"{x:g}" for x in self.tensor_split)]
        return cmd

    def info(self):
        """Adds llama-cpp-python's version (the server does not report one) and the layout it ran."""
        info = super().info()
        if self.rpc is not None:
            info.extra.update(rpc_servers=list(self.rpc.endpoints), rpc_binary=self.rpc.binary,
                              rpc_logs=[str(p) for p in self.rpc.logs])
        if self.split_mode is not None or self.tensor_split:
            info.extra.update(split_mode=self.split_mode, tensor_split=list(self.tensor_split))
        try:
            import importlib.metadata as md

            info.version = info.version or f"llama-cpp-python {md.version('llama_cpp_python')}"
        except Exception:  # noqa: BLE001 - version is informative only
            pass
        return info


class MlxServerEngine(_LaunchedServer):
    """``mlx_lm.server`` with an MLX model dir; the dir's tokenizer gives exact prompt lengths."""

    name = "mlx-server"

    def _engine_options(self, options: dict) -> dict:
        out = super()._engine_options(options)
        out["tokenizer"] = str(self.model_path)
        out["flavor"] = "mlx_lm.server"  # it answers no probe of its own: the launcher knows what it is
        return out

    def _model_name(self) -> str:
        return str(self.model_path)  # mlx_lm.server lists and accepts the path it was started with

    def command(self) -> list[str]:
        n = int(self._options.get("n_parallel") or 8)
        return [sys.executable, "-m", "mlx_lm.server", "--model", str(self.model_path),
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "WARNING",
                "--decode-concurrency", str(n), "--prompt-concurrency", str(n)]

    def info(self):
        """Adds mlx-lm's version."""
        info = super().info()
        try:
            import importlib.metadata as md

            info.version = info.version or f"mlx-lm {md.version('mlx-lm')}"
        except Exception:  # noqa: BLE001
            pass
        return info
