"""llama.cpp RPC on one machine: ``ggml-rpc-server`` processes on loopback ports that tokbench starts
and stops, and the client side that registers them as devices before llama-cpp-python loads a model.

Why by hand: llama-cpp-python 0.3.x accepts ``rpc_servers`` in its server settings and in ``Llama(...)``
but passes it nowhere (the model parameters no longer have that field; llama.cpp now registers RPC
servers as ggml backend devices, as ``llama-server --rpc`` does in common/arg.cpp). So the launched
server runs through :func:`main` here, which registers each endpoint with ggml's RPC backend and then
starts ``llama_cpp.server`` in the same process; with no device list given, llama.cpp offloads layers
to every registered GPU-type device, RPC ones included, in proportion to their memory.

The rpc-server binary is built by ``scripts/build_rpc`` against the very ``libggml*.so`` that
llama-cpp-python loads (same sources, same RPC protocol version).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tokbench.errors import UserError

BINARY_NAMES = ("ggml-rpc-server", "rpc-server")  # the CMake target's name in this llama.cpp, and its old one
START_TIMEOUT_S = 30.0


def rpc_server_binary() -> str:
    """Path of the rpc-server to launch: ``$TOKBENCH_RPC_SERVER``, beside this Python (``.venv/bin``), or on PATH."""
    env = os.environ.get("TOKBENCH_RPC_SERVER")
    if env:
        if not os.access(env, os.X_OK):
            raise UserError(f"TOKBENCH_RPC_SERVER={env} is not an executable file")
        return env
    here = Path(sys.executable).parent
    for name in BINARY_NAMES:
        if (here / name).is_file() and os.access(here / name, os.X_OK):
            return str(here / name)
        found = shutil.which(name)
        if found:
            return found
    raise UserError("llama.cpp RPC needs ggml-rpc-server: run scripts/build_rpc (builds it against "
                    "llama-cpp-python's own libggml), or set TOKBENCH_RPC_SERVER")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class RpcServers:
    """``n`` rpc-server processes on 127.0.0.1 (never another address), each with its own log."""

    def __init__(self, n: int, threads: int | None = None):
        self.n = int(n)
        self.threads = threads
        self.binary: str | None = None
        self.procs: list[subprocess.Popen] = []
        self.endpoints: list[str] = []
        self.logs: list[Path] = []

    def start(self) -> list[str]:
        """Start the servers and wait until each accepts connections; their endpoints (host:port)."""
        self.binary = rpc_server_binary()
        try:
            for _ in range(self.n):
                port = _free_port()
                log = Path(tempfile.mkstemp(prefix="tokbench-rpc-", suffix=".log")[1])
                # stdbuf: line-buffered stdout, so its log shows connections as they happen (else a
                # SIGTERM'd server leaves its printf lines unwritten); stderr is unbuffered anyway.
                line = [shutil.which("stdbuf"), "-oL"] if shutil.which("stdbuf") else []
                cmd = [*line, self.binary, "-H", "127.0.0.1", "-p", str(port)]
                if self.threads:
                    cmd += ["-t", str(self.threads)]
                with open(log, "wb") as f:
                    self.procs.append(subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT,
                                                       stdin=subprocess.DEVNULL, start_new_session=True))
                self.logs.append(log)
                self.endpoints.append(f"127.0.0.1:{port}")
            for proc, ep, log in zip(self.procs, self.endpoints, self.logs):
                self._wait(proc, ep, log)
        except BaseException:
            self.stop()
            raise
        return list(self.endpoints)

    @staticmethod
    def _wait(proc: subprocess.Popen, endpoint: str, log: Path) -> None:
        # Ready when it accepts a connection (its "Starting RPC server" line sits in a stdout buffer
        # when stdout is a file). The probe closes at once; the server then serves the next client.
        host, port = endpoint.rsplit(":", 1)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace").strip().splitlines()
                raise UserError(f"rpc-server on {endpoint} exited at start ({proc.returncode}): "
                                f"{tail[-1] if tail else ''}")
            try:
                with socket.create_connection((host, int(port)), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise UserError(f"rpc-server on {endpoint} did not start within {START_TIMEOUT_S:.0f} s (log: {log})")

    def cpu_seconds(self) -> list[float | None]:
        """CPU seconds each server has used so far (its share of the model's compute shows here)."""
        return [_cpu_seconds(p.pid) if p.poll() is None else None for p in self.procs]

    def log_text(self, i: int) -> str:
        """What server ``i`` printed (connections accepted and closed)."""
        return self.logs[i].read_text(errors="replace")

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM every server's process group, SIGKILL what is left after ``grace_s``."""
        for p in self.procs:
            _signal(p, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for p in self.procs:
            while p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if p.poll() is None:
                _signal(p, signal.SIGKILL)
                try:
                    p.wait(1)
                except subprocess.TimeoutExpired:
                    pass

    def kill(self) -> None:
        """SIGKILL every server at once."""
        self.stop(grace_s=0.0)


def _signal(proc: subprocess.Popen, sig) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def _loaded_ggml(lib_dir: Path) -> str:
    """The libggml file this process already loaded (through libllama). pip installs a wheel's symlinks
    as copies, so libggml.so, .so.0 and .so.0.x are three files: opening another one than libllama's
    would load a second ggml with a device registry of its own, and the model would never see the
    RPC devices registered there."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if os.path.basename(path).startswith("libggml.so"):
                    return path
    except OSError:  # no /proc (macOS): the library by its own name
        pass
    return str(lib_dir / "libggml.so")


def register_rpc_devices(endpoints: list[str]) -> int:
    """Register each ``host:port`` with ggml's RPC backend in this process (before a model loads);
    returns how many GPU-type devices ggml then has. UserError when this llama.cpp has no RPC backend."""
    import ctypes

    import llama_cpp  # noqa: F401 - loads the very libggml the model will use

    ggml = ctypes.CDLL(_loaded_ggml(Path(llama_cpp.__file__).parent / "lib"))
    ggml.ggml_backend_reg_by_name.restype = ctypes.c_void_p
    ggml.ggml_backend_reg_by_name.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_reg_get_proc_address.restype = ctypes.c_void_p
    ggml.ggml_backend_reg_get_proc_address.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    ggml.ggml_backend_register.argtypes = [ctypes.c_void_p]
    reg = ggml.ggml_backend_reg_by_name(b"RPC")
    if not reg:
        raise UserError("this llama-cpp-python was built without RPC (-DGGML_RPC=ON): run scripts/build_rpc")
    addr = ggml.ggml_backend_reg_get_proc_address(reg, b"ggml_backend_rpc_add_server")
    add_server = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_char_p)(addr)
    for ep in endpoints:
        ggml.ggml_backend_register(add_server(ep.encode()))
    ggml.ggml_backend_dev_count.restype = ctypes.c_size_t
    return int(ggml.ggml_backend_dev_count())


def main(argv: list[str] | None = None) -> None:
    """``python -m tokbench.engines.rpc --rpc HOST:PORT[,...] -- ARGS``: register the RPC servers,
    then run ``llama_cpp.server`` with ARGS in this process."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] != "--rpc":
        raise SystemExit("usage: python -m tokbench.engines.rpc --rpc HOST:PORT[,...] -- LLAMA_CPP_SERVER_ARGS")
    endpoints = [e for e in argv[1].split(",") if e]
    rest = argv[3:] if argv[2:3] == ["--"] else argv[2:]
    n = register_rpc_devices(endpoints)
    print(f"tokbench: registered {len(endpoints)} RPC device(s) {','.join(endpoints)}; {n} ggml devices",
          file=sys.stderr, flush=True)
    import runpy

    sys.argv = ["llama_cpp.server", *rest]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
