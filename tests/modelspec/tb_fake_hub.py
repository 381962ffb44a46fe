"""A Hugging Face Hub stand-in on loopback: what huggingface_hub and tokbench's range reads need.

Serves ``GET /api/models/{repo}[/revision/{rev}]`` (model_info with file sizes) and
``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` with single byte ranges (206 + Content-Range), the
headers hf_hub_download reads (X-Repo-Commit, ETag, Content-Length), and the Hub's error shapes:
401 + ``X-Error-Code: RepoNotFound`` for a private repo without a valid token, 403 +
``GatedRepo`` for a gated one, and ``/api/agent-harnesses`` (an empty registry; huggingface_hub
fetches it once a day to build its User-Agent). Files can be real bytes or :class:`Sparse` (a real header followed by
zeros up to a declared size), so a "200 GB" repo costs only its headers in memory. Every request is
logged with the bytes sent and the Authorization header seen, so tests can count bytes and check
where the token went. A fake is used because no real Hub is reachable here; the range reads and
the files it serves are the real thing (GGUFs written by llama.cpp and by tokbench's synth).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Sparse:
    """A file of ``size`` bytes whose first ``len(head)`` bytes are ``head`` and the rest zeros."""

    head: bytes
    size: int

    def read(self, start: int, end: int) -> bytes:
        out = self.head[start:end]
        return out + bytes(max(0, end - max(start, len(self.head))))


@dataclass
class Repo:
    """One repo: files (bytes, a Path or Sparse), its commit, and access rules."""

    files: dict[str, object]
    sha: str = "0123456789abcdef0123456789abcdef01234567"
    token: str | None = None  # private: only this token may read
    gated: bool = False

    def size(self, name: str) -> int:
        f = self.files[name]
        if isinstance(f, Sparse):
            return f.size
        if isinstance(f, Path):
            return f.stat().st_size
        return len(f)

    def read(self, name: str, start: int, end: int) -> bytes:
        f = self.files[name]
        if isinstance(f, Sparse):
            return f.read(start, end)
        if isinstance(f, Path):
            with open(f, "rb") as fh:
                fh.seek(start)
                return fh.read(end - start)
        return f[start:end]


@dataclass
class Hit:
    method: str
    path: str
    status: int
    sent: int
    auth: str | None
    range: str | None


@dataclass
class FakeHub:
    """The server; ``url`` goes into HF_ENDPOINT. Use as a context manager."""

    repos: dict[str, Repo] = field(default_factory=dict)
    log: list[Hit] = field(default_factory=list)

    def __enter__(self) -> "FakeHub":
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # noqa: D102 - silence the default stderr log
                pass

            def do_GET(self):  # noqa: N802
                hub._serve(self, body=True)

            def do_HEAD(self):  # noqa: N802
                hub._serve(self, body=False)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def bytes_sent(self) -> int:
        return sum(h.sent for h in self.log)

    # --- request handling ---------------------------------------------------------------------

    def _reply(self, h, status: int, body: bytes, headers: dict[str, str], send: bool, auth, rng) -> None:
        # Logged before the reply goes out: the client may act on the reply (and the test read the log)
        # before this server thread runs again, so a hit appended afterwards could land in the next step's slice.
        self.log.append(Hit(h.command, h.path, status, len(body) if send else 0, auth, rng))
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if send:
            h.wfile.write(body)

    def _denied(self, repo: Repo, auth: str | None) -> tuple[int, str] | None:
        token = auth[7:] if auth and auth.startswith("Bearer ") else None
        if repo.token is not None and token != repo.token:
            return 401, "RepoNotFound"
        if repo.gated and token is None:
            return 403, "GatedRepo"
        return None

    def _serve(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        auth, rng = h.headers.get("Authorization"), h.headers.get("Range")
        path = h.path.split("?")[0]
        if path == "/api/agent-harnesses":  # huggingface_hub's user-agent registry, fetched once a day
            return self._reply(h, 200, b'{"standardEnvVars": [], "harnesses": {}}', {}, body, auth, rng)
        m = re.match(r"^/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?$", path)
        if m:
            return self._api(h, m.group(1), body, auth, rng)
        m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if m:
            return self._file(h, m.group(1), m.group(2), m.group(3), body, auth, rng)
        self._reply(h, 404, b"{}", {"X-Error-Code": "RepoNotFound"}, body, auth, rng)

    def _api(self, h, name: str, body: bool, auth, rng) -> None:
        repo = self.repos.get(name)
        if repo is None:
            return self._reply(h, 401, b'{"error":"Repository not found"}', {"X-Error-Code": "RepoNotFound"}, body, auth, rng)
        denied = self._denied(repo, auth)
        if denied:
            return self._reply(h, denied[0], b'{"error":"denied"}', {"X-Error-Code": denied[1]}, body, auth, rng)
        siblings = [{"rfilename": n, "size": repo.size(n), "blobId": hashlib.sha1(n.encode()).hexdigest()}
                    for n in sorted(repo.files)]
        doc = {"id": name, "modelId": name, "sha": repo.sha, "private": repo.token is not None, "siblings": siblings}
        self._reply(h, 200, json.dumps(doc).encode(), {"Content-Type": "application/json"}, body, auth, rng)

    def _file(self, h, name: str, rev: str, fname: str, body: bool, auth, rng) -> None:
        repo = self.repos.get(name)
        if repo is None:
            return self._reply(h, 401, b"{}", {"X-Error-Code": "RepoNotFound"}, body, auth, rng)
        denied = self._denied(repo, auth)
        if denied:
            return self._reply(h, denied[0], b"{}", {"X-Error-Code": denied[1]}, body, auth, rng)
        if fname not in repo.files:
            return self._reply(h, 404, b"{}", {"X-Error-Code": "EntryNotFound"}, body, auth, rng)
        size = repo.size(fname)
        etag = '"' + hashlib.sha256(f"{repo.sha}/{fname}".encode()).hexdigest() + '"'
        headers = {"X-Repo-Commit": repo.sha, "ETag": etag, "Accept-Ranges": "bytes"}
        m = re.match(r"^bytes=(\d+)-(\d*)$", rng or "")
        if not m:
            data = repo.read(fname, 0, size) if body else b""
            if not body:  # HEAD: the size without sending the file
                headers["X-Linked-Size"] = str(size)
            return self._reply(h, 200, data, headers, body, auth, rng)
        start, end = int(m.group(1)), min(int(m.group(2) or size - 1), size - 1)
        if start >= size:
            return self._reply(h, 416, b"", {"Content-Range": f"bytes */{size}"}, body, auth, rng)
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        self._reply(h, 206, repo.read(fname, start, end + 1), headers, body, auth, rng)
