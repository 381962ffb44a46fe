"""Keep secrets (API keys, bearer tokens) out of the database.

Callers pass the secrets they hold (an ``--api-key`` value, a key read from an environment
variable) to :func:`tokbench.store.open_store` or :meth:`Store.add_secrets`; the store then applies
:func:`redact` to every run config, environment, point meta, error message and request
``native`` dict it writes. Values of environment variables whose names look secret (``*_API_KEY``,
``*_TOKEN``, ``*SECRET*``, ``*PASSWORD*``) are added automatically as a second line of defence.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from typing import Any

MASK = "[REDACTED]"

# Exact key names (normalised: lower case, '-' -> '_') that always hold a credential.
_SECRET_KEYS = {
    "api_key", "apikey", "authorization", "proxy_authorization", "token", "access_token",
    "auth_token", "bearer", "bearer_token", "refresh_token", "id_token", "hf_token",
    "secret", "client_secret", "password", "passwd", "x_api_key", "cookie", "set_cookie",
}
# Suffixes that mark a credential without catching counts like "max_tokens" or "gen_tokens".
_SECRET_SUFFIXES = ("_api_key", "_apikey", "_secret", "_password", "_auth_token", "_access_token")
# Credentials that show up inside free text (error messages echoing a request's headers).
_TEXT_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),
)
_ENV_NAME = re.compile(r"(API_?KEY|_TOKEN$|^TOKEN$|SECRET|PASSWORD)", re.IGNORECASE)
_MIN_SECRET_LEN = 6  # shorter values would mask ordinary words


def is_secret_key(key: str) -> bool:
    """True when a mapping key names a credential (``api_key``, ``Authorization``, ``hf_token`` ...)."""
    k = str(key).strip().lower().replace("-", "_")
    return k in _SECRET_KEYS or k.endswith(_SECRET_SUFFIXES)


# Anything a credential key name or text pattern above could be part of, as it shows in JSON text:
# secret key names all end in key / token / authorization / secret / password|passwd / cookie, or
# hold "bearer". A superset test: a match only means the exact walk below runs.
_SUSPECT = re.compile(r'(?i)key\s*"|token\s*"|authoriz|secret|passw|cookie|bearer|sk-|hf_')


def might_hold_secret(json_text: str, secrets: Iterable[str] = ()) -> bool:
    """False only when ``json_text`` (a ``json.dumps`` output) certainly holds no credential key,
    no bearer/``sk-``/``hf_`` token and none of ``secrets``: then :func:`redact` would change nothing,
    and the walk (tens of microseconds a request row, on the writer thread) is skipped."""
    if _SUSPECT.search(json_text):
        return True
    for s in secrets:
        if s and len(s) >= _MIN_SECRET_LEN and (s in json_text or json.dumps(s)[1:-1] in json_text):
            return True
    return False


def env_secrets(environ: dict[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look like credentials."""
    env = os.environ if environ is None else environ
    out = []
    for name, value in env.items():
        if _ENV_NAME.search(name) and not name.upper().startswith("TOKENIZERS") and len(value) >= _MIN_SECRET_LEN:
            out.append(value)
    return out


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every given secret and every bearer/``sk-`` style token masked."""
    for s in sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LEN}, key=len, reverse=True):
        text = text.replace(s, MASK)
    text = _TEXT_PATTERNS[0].sub(lambda m: m.group(1) + MASK, text)
    for pat in _TEXT_PATTERNS[1:]:
        text = pat.sub(MASK, text)
    return text


def redact(config: Any, secrets: list[str] | tuple[str, ...] = ()) -> Any:
    """A copy of ``config`` safe to store.

    Keys that name credentials (``api_key``, ``authorization``, ``token`` ...) are dropped at any
    depth; any string containing one of ``secrets`` (or a bearer / ``sk-`` token) has it masked.
    Lists, tuples and nested dicts are walked; other values are returned as they are.
    """
    if isinstance(config, dict):
        return {k: redact(v, secrets) for k, v in config.items() if not is_secret_key(k)}
    if isinstance(config, (list, tuple)):
        return [redact(v, secrets) for v in config]
    if isinstance(config, str):
        return redact_text(config, secrets)
    return config
