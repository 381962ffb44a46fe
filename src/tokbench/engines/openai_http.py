"""Any OpenAI-compatible server over HTTP (aiohttp: faster than httpx for many SSE streams, see
benchmarks/http_client_choice.py), with the server's native APIs where they report timings.

``start()`` is the preflight: it reaches the server, checks the key and the model name, detects
what the server is, and sends one tiny generation, so bad input ends with one line and exit 2
before a run starts. Detected flavors:
- ``llama-server`` (llama.cpp's own server: ``GET /props``): ``POST /completion`` streaming, which
  ends with ``timings`` (``predicted_per_second``, ``prompt_per_second`` ...) kept as native timings;
  ``/tokenize`` for exact prompt lengths; ``cache_prompt: false``.
- ``llama-cpp-python`` (``python -m llama_cpp.server``: ``POST /extras/tokenize/count``).
- ``ollama`` (``GET /api/version``): ``POST /api/generate`` with eval_count / eval_duration.
- anything else (vLLM, SGLang, mlx_lm.server, LM Studio ...): ``/v1/completions`` or
  ``/v1/chat/completions`` with ``stream_options.include_usage``; a local tokenizer
  (``tokenizer=PATH``) or the server's reported usage gives exact prompt lengths.
The API key goes only into the Authorization header: never into logs, records or errors.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tokbench.engines.protocol import EngineError, EngineInfo, GenRequest, GenResult, Prompt, TokenSink, clock
from tokbench.errors import UserError, unknown
from tokbench.loadgen.prompts import exact_prompt


_JSON = {"Content-Type": "application/json"}


def api_key_from_env() -> str | None:
    """The key from TOKBENCH_API_KEY, else OPENAI_API_KEY."""
    return os.environ.get("TOKBENCH_API_KEY") or os.environ.get("OPENAI_API_KEY") or None


class OpenAIEngine:
    """An OpenAI-compatible endpoint such as ``http://127.0.0.1:8080/v1``."""

    name = "openai"
    timestamps_on_loop = True  # chunk arrival is read by the event loop: its lag is timing error

    def __init__(self, endpoint: str, model: str | None = None, api_key: str | None = None,
                 tokenizer: str | None = None, max_concurrency: int = 4096, idle_timeout_s: float = 300.0,
                 native: bool = True, exact_prompts: bool = True, raw_http: bool = True, **_: object):
        self.endpoint = endpoint.rstrip("/")
        if not self.endpoint.startswith(("http://", "https://")):
            raise UserError(f"--endpoint must be an http(s) URL like http://127.0.0.1:8080/v1, got '{endpoint}'")
        self.root = self.endpoint[:-3] if self.endpoint.endswith("/v1") else self.endpoint
        self.model = model
        self._api_key = api_key if api_key is not None else api_key_from_env()
        self.tokenizer_path = tokenizer
        self.max_concurrency = max_concurrency
        self.idle_timeout_s = idle_timeout_s
        self.use_native = native
        self.exact_prompts = exact_prompts
        self.flavor = "openai"
        self.server_version = ""
        self._session = None
        self._tok = None
        self._raw = self._raw_target(raw_http)
        self._tpw = 1.0  # tokens per word seen in the last prompt: a good first guess for the next

    def _raw_target(self, enabled: bool):
        """(host, port, base path) for the raw streaming client on plain-http endpoints, else None."""
        from urllib.parse import urlsplit

        u = urlsplit(self.root)
        if not enabled or u.scheme != "http" or not u.hostname:
            return None
        self._raw_base = self.root
        self._raw_headers = {k: v for k, v in self._headers().items()}
        return u.hostname, u.port or 80, u.path.rstrip("/")

    # ---- lifecycle / preflight -------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self._api_key:
            h["Authorization"] = f"Bearer {self._api_key}"
        return h

    async def start(self) -> None:
        """Preflight: reach the server, check auth and model, detect flavor, one tiny generation."""
        import aiohttp

        conn = aiohttp.TCPConnector(limit=0, force_close=False)  # no client-side cap on streams
        # Per-request client work delays every request start (TTFT) when thousands start at once:
        # no cookie jar, no compression negotiation, bodies serialized by us.
        self._session = aiohttp.ClientSession(
            connector=conn, headers=self._headers(), cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False, skip_auto_headers=("Accept-Encoding", "User-Agent"),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=self.idle_timeout_s))
        try:
            await self._check_models()
            await self._detect_flavor()
            if self.tokenizer_path:
                self._tok = _load_tokenizer(self.tokenizer_path)
            probe = await self.make_prompt(8, seed=987654321) if self.exact_prompts else Prompt(8, text="hello there")
            await self.generate(GenRequest(probe, 2), lambda t, n: None)
        except EngineError as exc:
            await self.stop()
            raise UserError(f"server at {self.endpoint} failed the preflight request: {exc}") from None
        except BaseException:
            await self.stop()
            raise

    async def _get(self, url: str) -> tuple[int, Any]:
        import aiohttp

        try:
            async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as r:
                body = await r.read()
                try:
                    return r.status, json.loads(body) if body else None
                except ValueError:
                    return r.status, None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise UserError(f"cannot reach {url}: {exc.__class__.__name__}: {exc}") from None

    async def _check_models(self) -> None:
        status, doc = await self._get(f"{self.endpoint}/models")
        if status in (401, 403):
            raise UserError(f"authentication failed at {self.endpoint} (HTTP {status}); check --api-key or TOKBENCH_API_KEY")
        if status >= 500:
            raise UserError(f"server error at {self.endpoint}/models (HTTP {status})")
        ids = [m.get("id") for m in (doc or {}).get("data", []) if isinstance(m, dict)] if status == 200 else []
        if self.model is None:
            if not ids:
                raise UserError(f"{self.endpoint} lists no models; pass --model NAME")
            self.model = ids[0]
        elif ids and self.model not in ids:
            raise unknown("model", self.model, ids)

    async def _detect_flavor(self) -> None:
        import aiohttp

        status, doc = await self._get(f"{self.root}/props")
        if status == 200 and isinstance(doc, dict) and ("default_generation_settings" in doc or "build_info" in doc):
            self.flavor, self.server_version = "llama-server", str(doc.get("build_info", ""))
            return
        status, doc = await self._get(f"{self.root}/api/version")
        if status == 200 and isinstance(doc, dict) and "version" in doc:
            self.flavor, self.server_version = "ollama", str(doc["version"])
            return
        try:
            async with self._session.post(f"{self.root}/extras/tokenize/count",
                                          json={"input": "hello", "model": self.model}) as r:
                if r.status == 200 and "count" in (await r.json(content_type=None) or {}):
                    self.flavor = "llama-cpp-python"
        except (aiohttp.ClientError, ValueError, TypeError):
            pass

    async def stop(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def info(self) -> EngineInfo:
        """Flavor and version as detected (never the API key)."""
        return EngineInfo(self.flavor, self.server_version, self.model or "",
                          {"endpoint": self.endpoint, "native_api": self._native_api()})

    def _native_api(self) -> str | None:
        if not self.use_native:
            return None
        return {"llama-server": "/completion", "ollama": "/api/generate"}.get(self.flavor)

    # ---- tokens and prompts ----------------------------------------------------------------
    async def count_tokens(self, text: str) -> int:
        """Prompt tokens of ``text`` by the most exact means this server offers."""
        if self._tok is not None:
            return len(self._tok(text))
        if self.flavor == "llama-server":
            doc = await self._post_json(f"{self.root}/tokenize", {"content": text, "add_special": True})
            return len(doc["tokens"])
        if self.flavor == "llama-cpp-python":
            doc = await self._post_json(f"{self.root}/extras/tokenize/count", {"input": text, "model": self.model})
            return int(doc["count"])
        # Last resort: let the server count (one 1-token generation per call).
        doc = await self._post_json(f"{self.endpoint}/completions",
                                    {"model": self.model, "prompt": text, "max_tokens": 1, "temperature": 0})
        usage = doc.get("usage") or {}
        if "prompt_tokens" not in usage:
            raise EngineError("no_tokenizer", "server reports no usage; pass a local tokenizer")
        return int(usage["prompt_tokens"])

    async def _post_json(self, url: str, body: dict) -> dict:
        import aiohttp

        for attempt in (1, 2):
            try:
                async with self._session.post(url, json=body) as r:
                    if r.status != 200:
                        raise EngineError(f"http_{r.status}", self._scrub((await r.text())[:200]))
                    return await r.json(content_type=None)
            except aiohttp.ServerDisconnectedError as exc:
                # A pooled keep-alive connection the server had already closed (seen with llama.cpp's
                # llama-server on the H100 right after a streamed completion): these calls are
                # idempotent (tokenize, count), so one retry on a fresh connection is safe.
                if attempt == 2:
                    raise EngineError("connect", self._scrub(str(exc))) from None
            except aiohttp.ClientError as exc:
                raise EngineError("connect", self._scrub(str(exc))) from None
            except ValueError as exc:
                raise EngineError("malformed_response", self._scrub(str(exc)[:200])) from None
        raise AssertionError("unreachable")

    async def make_prompt(self, n_tokens: int, seed: int) -> Prompt:
        """Text of exactly ``n_tokens`` prompt tokens (see tokbench.loadgen.prompts), unique per seed."""
        if not self.exact_prompts:
            return Prompt(n_tokens, text=f"{seed:x}: " + " the" * max(0, n_tokens - 4))
        p = await exact_prompt(self.count_tokens, n_tokens, seed, self._tpw)
        words = len(p.text.split()) or 1
        self._tpw = max(0.2, p.n_tokens / words)
        return p

    # ---- requests --------------------------------------------------------------------------
    async def generate(self, request: GenRequest, sink: TokenSink) -> GenResult:
        """Stream one request; one sink call per chunk with the tokens it carries."""
        try:
            return await self._generate(request, sink)
        except EngineError as exc:  # a server may echo the key back in its error body
            raise EngineError(exc.error_class, self._scrub(exc.message)) from None

    def _scrub(self, text: str) -> str:
        """``text`` with the API key masked wherever it appears."""
        return text.replace(self._api_key, "[REDACTED]") if self._api_key else text

    async def _generate(self, request: GenRequest, sink: TokenSink) -> GenResult:
        import aiohttp

        native = self._native_api() if request.api == "completions" else None
        url, body, parse = self._build(request, native)
        if self._raw is not None:
            return self._finish(request, await self._generate_raw(url, body, parse, sink))
        try:
            async with self._session.post(url, data=json.dumps(body).encode(), headers=_JSON) as resp:
                if resp.status != 200:
                    wait = resp.headers.get("Retry-After")  # first: the body is cut to fit
                    prefix = f"Retry-After: {wait}; " if wait else ""
                    raise EngineError(f"http_{resp.status}", (prefix + await resp.text())[:300])
                result = await _read_stream(resp, sink, parse)
        except aiohttp.ClientPayloadError as exc:
            raise EngineError("truncated_stream", str(exc)) from None
        except aiohttp.ServerTimeoutError as exc:  # sock_read idle timeout; it subclasses the
            raise EngineError("timeout_idle", str(exc)) from None  # connection errors below
        except (aiohttp.ClientConnectionError, ConnectionError) as exc:
            raise EngineError("connect", str(exc)) from None
        except TimeoutError as exc:
            raise EngineError("timeout_idle", str(exc)) from None
        return self._finish(request, result)

    async def _generate_raw(self, url: str, body: dict, parse, sink: TokenSink) -> GenResult:
        from tokbench.engines.rawhttp import post_stream

        reader = SSEReader(sink, parse)
        host, port, path = self._raw
        await post_stream(host, port, path + url[len(self._raw_base):], self._raw_headers,
                          json.dumps(body).encode(), reader.feed, self.idle_timeout_s)
        return reader.result

    def _finish(self, request: GenRequest, result: GenResult) -> GenResult:
        if result.usage_output_tokens is None and result.finish_reason == "length" and req_exact(request):
            # No usage in the stream (llama-cpp-python): a "length" finish with min_tokens = max_tokens
            # means exactly max_tokens were generated. Chunks need not map 1:1 to tokens (it holds
            # back tokens that end inside a UTF-8 sequence), so the count is the server's, flagged.
            result.usage_output_tokens = request.max_tokens
            result.native["usage_inferred"] = "finish_reason=length"
        return result

    def _build(self, req: GenRequest, native: str | None) -> tuple[str, dict, Any]:
        text, n = req.prompt.text or "", req.max_tokens
        if native == "/completion":
            body = {"prompt": text, "n_predict": n, "stream": True, "temperature": 0,
                    "cache_prompt": req.cache_prompt, "ignore_eos": req.ignore_eos, "return_tokens": True}
            return f"{self.root}/completion", body, _parse_llama_native
        if native == "/api/generate":
            body = {"model": self.model, "prompt": text, "raw": True, "stream": True,
                    "options": {"num_predict": n, "temperature": 0}}
            return f"{self.root}/api/generate", body, _parse_ollama
        body: dict[str, Any] = {"model": self.model, "max_tokens": n, "stream": True, "temperature": 0,
                                "stream_options": {"include_usage": True}}
        if req.ignore_eos:  # vLLM and llama.cpp honour these; other servers ignore unknown keys
            body.update(ignore_eos=True, min_tokens=n)
        if req.api == "chat":
            body["messages"] = [{"role": "user", "content": text}]
            return f"{self.endpoint}/chat/completions", body, _parse_openai
        body["prompt"] = text
        return f"{self.endpoint}/completions", body, _parse_openai


class SSEReader:
    """Incremental SSE ``data:`` events (or NDJSON lines) -> token counts, timestamped per read.

    Every event of one network read gets the read's arrival time (they arrived together).
    Content chunks of the common OpenAI shape skip JSON parsing: the client's CPU per token is
    what limits how many streams one core can time cleanly (benchmarks/client_capacity.py).
    """

    def __init__(self, sink: TokenSink, parse):
        self.sink, self.parse = sink, parse
        self.result = GenResult()
        self.buf = b""
        self.done = False

    def feed(self, data: bytes, t: float) -> bool:
        """Consume bytes that arrived at ``t``; True once the final event was seen."""
        self.buf += data
        if b"\n" not in data:
            return False
        *lines, self.buf = self.buf.split(b"\n")
        k = 0
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith(b":"):
                continue
            if line.startswith(b"data:"):
                line = line[5:].lstrip()
            if line == b"[DONE]":
                self.done = True
                break
            if self.parse is _parse_openai and _FAST_TEXT in line and _FAST_NULL in line and b'"usage"' not in line:
                k += 1  # a one-token text chunk, not finished: the shape almost every chunk has
                continue
            try:
                chunk = json.loads(line)
            except ValueError:
                raise EngineError("malformed_sse", line[:120].decode(errors="replace")) from None
            if not isinstance(chunk, dict):
                raise EngineError("malformed_json", f"not an object: {line[:120].decode(errors='replace')}")
            if "error" in chunk:
                raise EngineError("server_error", json.dumps(chunk["error"])[:300])
            try:
                n, end = self.parse(chunk, self.result)
            except (AttributeError, TypeError, ValueError, KeyError) as exc:  # e.g. "choices": 5
                raise EngineError("malformed_json", f"{exc}: {line[:120].decode(errors='replace')}") from None
            k += n
            if end:
                self.done = True
                break
        if k:
            self.sink(t, k)
        return self.done


async def _read_stream(resp, sink: TokenSink, parse) -> GenResult:
    """Read an aiohttp response through :class:`SSEReader` (one await per network read)."""
    reader = SSEReader(sink, parse)
    async for data in resp.content.iter_any():
        if reader.feed(data, clock()):
            return reader.result
    raise EngineError("truncated_stream", "stream ended before its final event")


_FAST_TEXT = b'"text":"'
_FAST_NULL = b'"finish_reason":null'


def req_exact(request: GenRequest) -> bool:
    """True when the request asked for exactly ``max_tokens`` (EOS ignored)."""
    return request.ignore_eos and request.api in ("completions", "chat")


def _parse_openai(chunk: dict, result: GenResult) -> tuple[int, bool]:
    usage = chunk.get("usage")
    if usage:
        result.usage_prompt_tokens = usage.get("prompt_tokens")
        result.usage_output_tokens = usage.get("completion_tokens")
    k = 0
    for choice in chunk.get("choices") or ():
        piece = choice.get("text")
        if piece is None:
            piece = (choice.get("delta") or {}).get("content")
        finish = choice.get("finish_reason")
        # One token per content chunk, empty text included: llama-cpp-python sends "" for a token
        # that ends inside a UTF-8 sequence. Not counted: a role-only delta (no content key) and an
        # empty closing chunk that only carries finish_reason.
        role_only = piece == "" and "role" in (choice.get("delta") or {})  # vLLM's opening chat delta
        if piece is not None and (piece or not finish) and not role_only:
            k += 1
        if finish:
            result.finish_reason = finish
    return k, False


def _parse_llama_native(chunk: dict, result: GenResult) -> tuple[int, bool]:
    toks = chunk.get("tokens")
    k = len(toks) if isinstance(toks, list) else (1 if chunk.get("content") else 0)
    if chunk.get("stop"):
        timings = chunk.get("timings") or {}
        result.native = dict(timings)  # llama-server's names: predicted_per_second, prompt_per_second ...
        result.usage_prompt_tokens = timings.get("prompt_n", chunk.get("tokens_evaluated"))
        result.usage_output_tokens = timings.get("predicted_n", chunk.get("tokens_predicted"))
        result.finish_reason = chunk.get("stop_type") or "stop"
        return k, True
    return k, False


def _parse_ollama(chunk: dict, result: GenResult) -> tuple[int, bool]:
    k = 1 if chunk.get("response") else 0
    if chunk.get("done"):
        keys = ("eval_count", "eval_duration", "prompt_eval_count", "prompt_eval_duration", "total_duration", "load_duration")
        result.native = {key: chunk[key] for key in keys if key in chunk}
        if chunk.get("eval_count") and chunk.get("eval_duration"):
            result.native["predicted_per_second"] = chunk["eval_count"] / (chunk["eval_duration"] / 1e9)
        result.usage_prompt_tokens = chunk.get("prompt_eval_count")
        result.usage_output_tokens = chunk.get("eval_count")
        result.finish_reason = chunk.get("done_reason")
        return k, True
    return k, False


def _load_tokenizer(path: str):
    """A local tokenizer (HF dir or tokenizer.json) as ``text -> ids``, specials included."""
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(path)
    except Exception as exc:  # noqa: BLE001 - any failure here is a bad --tokenizer value
        raise UserError(f"cannot load tokenizer from {path}: {exc}") from None
    return lambda text: tok.encode(text, add_special_tokens=True)
