"""Hub file access for :mod:`tokbench.modelspec.hub`: byte ranges, the header cache, error lines.

Everything goes through huggingface_hub, so its settings apply: ``HF_ENDPOINT`` (the Hub or a
mirror), ``HF_TOKEN`` (or ``hf auth login``'s stored token), ``HF_HUB_OFFLINE``, ``HF_HOME`` /
``HF_HUB_CACHE``. Range reads use its HTTP session and auth headers (``build_hf_headers``); the
token is sent to the Hub only, never written anywhere by tokbench (a redirect to the CDN drops it),
and no error line quotes a request's headers.

Parsed headers (never raw tensor data) are kept under huggingface_hub's assets cache
(``cached_assets_path("tokbench", repo, commit)``), keyed by the immutable commit, so a second
plan of the same repo -- and a plan with ``HF_HUB_OFFLINE=1`` -- reads no bytes. A header is
written there only after it parsed and verified.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokbench.errors import UserError

TIMEOUT_S = 20.0
CACHE_VERSION = 1


def endpoint() -> str:
    """The Hub URL huggingface_hub uses (HF_ENDPOINT, read now so a changed environment counts)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def offline() -> bool:
    """True when huggingface_hub is in offline mode (HF_HUB_OFFLINE=1)."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return bool(constants.HF_HUB_OFFLINE) or env in ("1", "true", "yes", "on")


def hub_cache_dir() -> Path:
    """huggingface_hub's model cache (HF_HUB_CACHE, else HF_HOME/hub, else its default)."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return Path(constants.HF_HUB_CACHE)


def assets_dir() -> Path:
    """huggingface_hub's assets cache (HF_ASSETS_CACHE, else HF_HOME/assets, else its default)."""
    from huggingface_hub import constants

    if os.environ.get("HF_ASSETS_CACHE"):
        return Path(os.environ["HF_ASSETS_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "assets"
    return Path(constants.HF_ASSETS_CACHE)


def _token() -> str | None:
    from huggingface_hub import get_token

    return get_token()


def scrub(text: str) -> str:
    """``text`` with the Hub token (if any) masked: a last guard for error lines."""
    tok = _token()
    return text.replace(tok, "***") if tok else text


def hub_error(repo: str, exc: Exception) -> UserError:
    """One line for a failed Hub request (never the request's headers)."""
    from huggingface_hub import errors

    status = getattr(getattr(exc, "response", None), "status_code", None)
    where = endpoint()
    if isinstance(exc, errors.GatedRepoError):
        return UserError(f"{repo}: gated repository on {where}; accept its terms on the Hub and set HF_TOKEN")
    if isinstance(exc, errors.RepositoryNotFoundError):
        if status == 401 and _token():
            return UserError(f"{repo}: HF_TOKEN was refused by {where} (401), or the repository does not exist")
        return UserError(f"{repo}: no such model repository on {where}, or it is private (set HF_TOKEN)")
    if isinstance(exc, errors.RevisionNotFoundError):
        return UserError(f"{repo}: no such revision on {where}")
    if isinstance(exc, (errors.EntryNotFoundError, errors.RemoteEntryNotFoundError)):
        return UserError(f"{repo}: file not found on {where}")
    if isinstance(exc, (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError)):
        return UserError(f"{repo}: not in the Hugging Face cache and HF_HUB_OFFLINE is set; plan it once online")
    if isinstance(exc, errors.HfHubHTTPError):
        return UserError(f"{repo}: Hub request to {where} failed (HTTP {status})")
    return UserError(scrub(f"{repo}: cannot reach {where} ({exc.__class__.__name__}: {exc})"))


@dataclass
class Traffic:
    """Bytes and requests one plan cost (reported beside the plan; the benchmark's measure)."""

    bytes: int = 0
    requests: int = 0
    files: list[str] = field(default_factory=list)


class HubRange:
    """Byte ranges of one file in a Hub repo at a fixed commit, through huggingface_hub's session."""

    def __init__(self, repo: str, filename: str, commit: str, size: int, traffic: Traffic) -> None:
        from urllib.parse import quote

        self.repo, self.filename, self.size, self.traffic = repo, filename, size, traffic
        # hf_hub_url's layout, built here because hf_hub_url only swaps in an endpoint that matches
        # the one huggingface_hub saw at import
        self.url = f"{endpoint()}/{repo}/resolve/{quote(commit, safe='')}/{quote(filename)}"
        self.cdn: str | None = None  # where the Hub redirected: later ranges go there directly

    def read(self, start: int, n: int) -> bytes:
        """Bytes [start, start + n); stops reading after n bytes even if the server sends more."""
        from huggingface_hub import get_session
        from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

        headers = {"Range": f"bytes={start}-{start + n - 1}", "Accept-Encoding": "identity"}
        url = self.cdn or self.url
        if self.cdn is None:
            headers = build_hf_headers(headers=headers)
        try:
            with get_session().stream("GET", url, headers=headers, timeout=TIMEOUT_S, follow_redirects=True) as r:
                if r.status_code >= 400:
                    r.read()
                    hf_raise_for_status(r)
                out = bytearray()
                for chunk in r.iter_bytes():
                    out += chunk
                    if len(out) >= n:
                        break
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - every transport failure becomes one line
            raise hub_error(self.repo, exc) from None
        if r.status_code == 200 and start > 0:
            raise UserError(f"{self.repo}/{self.filename}: {endpoint()} ignored the byte range (HTTP 200); "
                            "cannot read a header without downloading the file")
        if str(r.url) != url and self.cdn is None and r.url.host != _host(self.url):
            self.cdn = str(r.url)
        self.traffic.bytes += min(len(out), n)
        self.traffic.requests += 1
        return bytes(out[:n])


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or ""


def commit_dir(repo: str, commit: str) -> Path:
    """tokbench's folder for one commit of a repo in huggingface_hub's assets cache."""
    from huggingface_hub import cached_assets_path

    return cached_assets_path("tokbench", namespace=repo.replace("/", "--"), subfolder=commit, assets_dir=assets_dir())


def cache_path(repo: str, commit: str, filename: str) -> Path:
    """Where the parsed header of ``filename`` at ``commit`` is kept."""
    return commit_dir(repo, commit) / "headers" / (filename.replace("/", "__") + ".json")


def load_cached(repo: str, commit: str, filename: str) -> dict[str, Any] | None:
    """A cached parsed header, or None (absent, unreadable or from another cache version)."""
    path = cache_path(repo, commit, filename)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("version") == CACHE_VERSION else None


def store_cached(repo: str, commit: str, filename: str, doc: dict[str, Any]) -> None:
    """Keep a verified parsed header (written to a temporary name, then renamed)."""
    path = cache_path(repo, commit, filename)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps({**doc, "version": CACHE_VERSION}))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs the next run the same bytes
