"""Any OpenAI-compatible server over HTTP (aiohttp for control calls; a raw HTTP/1.1 client for
the timed streams, see tokbench.engines.rawhttp), with the server's native APIs where they report
timings, its tokenizer for exact prompt lengths, and its per-chunk token counts.

``start()`` is the preflight: it reaches the server, checks the key and the model name, detects
what the server is, picks how prompt tokens are counted, and sends one tiny generation, so bad
input ends with one line and exit 2 before a run starts. Detected flavors (see ``FLAVORS``):
- ``llama-server`` (llama.cpp: ``GET /props``): ``POST /completion`` streaming with ``tokens`` per
  chunk and final ``timings`` (``predicted_per_second``, ``draft_n`` ...); ``/tokenize``; token ids.
- ``vllm`` (``GET /version``) and ``sglang`` (``GET /server_info``): ``POST /tokenize``; token ids;
  ``continuous_usage_stats`` (the running output count in every chunk); vLLM's ``/metrics``
  speculative-decoding counters.
- ``llama-cpp-python`` (``POST /extras/tokenize``); ``ollama`` (``GET /api/version``:
  ``/api/generate`` with eval counts); ``mlx_lm.server`` (named by the launcher); anything else:
  ``/v1/completions`` or ``/v1/chat/completions`` with ``stream_options.include_usage``.
Prompt lengths: a local tokenizer (``tokenizer=PATH``) first, else the server's tokenize endpoint,
else the prompt-token usage of a one-token generation, counted once per length
(tokbench.engines.textprompts); a server that can do none of these gets prompts of N words and
``counting_note`` says so. The API key goes only into the Authorization header: never into logs,
records or errors.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tokbench.engines import sse
from tokbench.engines.localtok import load_tokenizer, parse_spec_counters
from tokbench.engines.protocol import EngineError, EngineInfo, GenRequest, GenResult, Prompt, TokenSink, clock
from tokbench.errors import UserError, unknown

_JSON = {"Content-Type": "application/json"}

# What each detected server offers: tokenize path and body shape, token-id prompts, per-chunk usage.
FLAVORS: dict[str, dict[str, Any]] = {
    "llama-server": {"tokenize": ("/tokenize", "content"), "ids": True, "native": "/completion"},
    "vllm": {"tokenize": ("/tokenize", "prompt"), "ids": True, "continuous": True, "metrics": True},
    "sglang": {"tokenize": ("/tokenize", "prompt"), "ids": True, "continuous": True},
    "llama-cpp-python": {"tokenize": ("/extras/tokenize", "input")},
    "ollama": {"native": "/api/generate"},
    "mlx_lm.server": {},
    "openai": {},
}
def api_key_from_env() -> str | None:
    """The key from TOKBENCH_API_KEY, else OPENAI_API_KEY."""
    return os.environ.get("TOKBENCH_API_KEY") or os.environ.get("OPENAI_API_KEY") or None


class OpenAIEngine:
    """An OpenAI-compatible endpoint such as ``http://127.0.0.1:8080/v1``."""

    name = "openai"
    timestamps_on_loop = True  # chunk arrival is read by the event loop: its lag is timing error

    def __init__(self, endpoint: str, model: str | None = None, api_key: str | None = None,
                 tokenizer: str | None = None, max_concurrency: int = 4096, idle_timeout_s: float = 300.0,
                 native: bool = True, exact_prompts: bool = True, raw_http: bool = True, flavor: str | None = None,
                 token_ids: bool = True, **_: object):
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
        self.use_ids = token_ids
        self.flavor_hint = flavor
        self.flavor = "openai"
        self.server_version = ""
        self.counting: str | None = None  # how prompt tokens are counted (None: the server cannot)
        self.counting_note: str | None = None  # one line for the user when counting is slow or impossible
        self._session = None
        self._tok = None
        self._raw = self._raw_target(raw_http)
        self._tpw = 1.0  # tokens per word seen in the last prompt: a good first guess for the next
        self._bodies: dict = {}
        self._lead: list[int] | None = None

    def _raw_target(self, enabled: bool):
        """(host, port, base path) for the raw streaming client on plain-http endpoints, else None."""
        from urllib.parse import urlsplit

        u = urlsplit(self.root)
        self._pool = None
        if not enabled or u.scheme != "http" or not u.hostname:
            return None
        from tokbench.engines.rawhttp import Pool

        self._raw_base = self.root
        self._raw_headers = dict(self._headers())
        self._pool = Pool(u.hostname, u.port or 80)
        return u.hostname, u.port or 80, u.path.rstrip("/")

    @property
    def offers(self) -> dict[str, Any]:
        """What the detected server offers (see ``FLAVORS``)."""
        return FLAVORS.get(self.flavor, {})

    # ---- lifecycle / preflight -------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self._api_key:
            h["Authorization"] = f"Bearer {self._api_key}"
        return h

    async def start(self) -> None:
        """Preflight: reach the server, check auth and model, detect flavor and counting, one tiny generation."""
        import aiohttp

        conn = aiohttp.TCPConnector(limit=0, force_close=False)
        self._session = aiohttp.ClientSession(
            connector=conn, headers=self._headers(), cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False, skip_auto_headers=("Accept-Encoding", "User-Agent"),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=self.idle_timeout_s))
        try:
            await self._check_models()
            await self._detect_flavor()
            if self.tokenizer_path:
                self._tok = load_tokenizer(self.tokenizer_path)
            await self._pick_counting()
            probe = (await self.make_prompts(8, [987654321]))[0]
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
                    return r.status, body.decode(errors="replace")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise UserError(f"cannot reach {url}: {exc.__class__.__name__}: {exc}") from None

    async def _check_models(self) -> None:
        status, doc = await self._get(f"{self.endpoint}/models")
        if status in (401, 403):
            raise UserError(f"authentication failed at {self.endpoint} (HTTP {status}); check --api-key or TOKBENCH_API_KEY")
        if status >= 500:
            raise UserError(f"server error at {self.endpoint}/models (HTTP {status})")
        data = (doc or {}).get("data", []) if isinstance(doc, dict) else []
        ids = [m.get("id") for m in data if isinstance(m, dict)] if status == 200 else []
        if self.model is None:
            if not ids:
                raise UserError(f"{self.endpoint} lists no models; pass --model NAME")
            self.model = ids[0]
        elif ids and self.model not in ids:
            raise unknown("model", self.model, ids)

    async def _detect_flavor(self) -> None:
        if self.flavor_hint:
            self.flavor = self.flavor_hint
        status, doc = await self._get(f"{self.root}/props")
        if status == 200 and isinstance(doc, dict) and ("default_generation_settings" in doc or "build_info" in doc):
            self.flavor, self.server_version = "llama-server", str(doc.get("build_info", ""))
            return
        if self.flavor_hint:
            return
        status, doc = await self._get(f"{self.root}/api/version")
        if status == 200 and isinstance(doc, dict) and "version" in doc:
            self.flavor, self.server_version = "ollama", str(doc["version"])
            return
        status, doc = await self._get(f"{self.root}/server_info")
        if status == 200 and isinstance(doc, dict) and ("model_path" in doc or "tokenizer_path" in doc):
            self.flavor, self.server_version = "sglang", str(doc.get("version", ""))
            return
        status, doc = await self._get(f"{self.root}/version")
        if status == 200 and isinstance(doc, dict) and "version" in doc:
            self.flavor, self.server_version = "vllm", str(doc["version"])
            return
        if await self._tokenize_ids("hello", ("/extras/tokenize", "input")) is not None:
            self.flavor = "llama-cpp-python"

    async def _pick_counting(self) -> None:
        """The most exact way this server lets us count prompt tokens (and say when it has none)."""
        if not self.exact_prompts:
            self.counting = None
            return
        if self._tok is not None:
            self.counting = f"local tokenizer ({self.tokenizer_path})"
            return
        path = self.offers.get("tokenize")
        if path and await self._tokenize_ids("hello", path) is not None:
            self.counting = f"{self.flavor} {path[0]}"
            return
        try:
            await self._usage_count("hello")
        except EngineError:
            self.counting = None
            self.counting_note = (f"{self.endpoint} cannot count tokens (no tokenize endpoint, no usage) and no "
                                  f"--tokenizer was given: prompts are N words, about N tokens each; each request's "
                                  f"true prompt length comes from the server's usage where it reports one")
            return
        self.counting = "usage of one-token generations"
        self.counting_note = (f"{self.endpoint} has no tokenize endpoint: prompt lengths are counted with one-token "
                              f"generations, a few per length (pass --tokenizer DIR to count locally)")

    async def stop(self) -> None:
        """Close the HTTP session and the kept-alive stream connections."""
        if self._pool is not None:
            self._pool.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def warm_connections(self, n: int) -> None:
        """Open ``n`` stream connections ahead (a point's first requests then start with one write)."""
        if self._pool is not None:
            await self._pool.warm(n)

    def info(self) -> EngineInfo:
        """Flavor and version as detected (never the API key)."""
        return EngineInfo(self.flavor, self.server_version, self.model or "",
                          {"endpoint": self.endpoint, "native_api": self._native_api(), "counting": self.counting,
                           "token_id_prompts": self._send_ids()})

    def _native_api(self) -> str | None:
        return self.offers.get("native") if self.use_native else None

    def _send_ids(self) -> bool:
        return bool(self.use_ids and self.offers.get("ids") and self.counting and "usage" not in self.counting)

    # ---- tokens and prompts ----------------------------------------------------------------
    async def _tokenize_ids(self, text: str, path: tuple[str, str]) -> list[int] | None:
        """Token ids from a tokenize endpoint (specials added as for a prompt), None if it has none."""
        route, key = path
        body: dict[str, Any] = {key: text}
        if key == "content":
            body["add_special"] = True
        else:
            body["model"] = self.model
            if key == "prompt":
                body["add_special_tokens"] = True
        try:
            doc = await self._post_json(f"{self.root}{route}", body)
        except EngineError:
            return None
        toks = doc.get("tokens") if isinstance(doc, dict) else None
        return [int(t) if not isinstance(t, dict) else int(t["id"]) for t in toks] if isinstance(toks, list) else None

    async def _usage_count(self, text: str) -> int:
        doc = await self._post_json(f"{self.endpoint}/completions",
                                    {"model": self.model, "prompt": text, "max_tokens": 1, "temperature": 0})
        usage = (doc or {}).get("usage") or {}
        if "prompt_tokens" not in usage:
            raise EngineError("no_tokenizer", "server reports no usage; pass a local tokenizer")
        return int(usage["prompt_tokens"])

    async def tokenize(self, text: str) -> list[int] | None:
        """Prompt token ids of ``text`` (local tokenizer or the server's endpoint); None when neither."""
        if self._tok is not None:
            return list(self._tok(text))
        path = self.offers.get("tokenize")
        return await self._tokenize_ids(text, path) if path else None

    async def count_tokens(self, text: str) -> int:
        """Prompt tokens of ``text`` by the most exact means this server offers."""
        ids = await self.tokenize(text)
        if ids is not None:
            return len(ids)
        return await self._usage_count(text)

    async def _post_json(self, url: str, body: dict) -> dict:
        import aiohttp

        for attempt in (1, 2):
            try:
                async with self._session.post(url, json=body) as r:
                    if r.status != 200:
                        raise EngineError(f"http_{r.status}", self._scrub((await r.text())[:200]))
                    return await r.json(content_type=None)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                # A pooled keep-alive connection the server had already closed (seen with llama.cpp's
                # llama-server on the H100 right after a streamed completion, and with uvicorn's
                # 5 s keep-alive timeout behind llama-cpp-python's server: "Can not write request
                # body"): these calls are idempotent (tokenize, count), so one retry on a fresh
                # connection is safe.
                if attempt == 2:
                    raise EngineError("connect", self._scrub(str(exc))) from None
            except aiohttp.ClientError as exc:
                raise EngineError("connect", self._scrub(str(exc))) from None
            except ValueError as exc:
                raise EngineError("malformed_response", self._scrub(str(exc)[:200])) from None
        raise AssertionError("unreachable")

    async def make_prompt(self, n_tokens: int, seed: int) -> Prompt:
        """One prompt of exactly ``n_tokens`` tokens, unique per seed (see :meth:`make_prompts`)."""
        return (await self.make_prompts(n_tokens, [seed]))[0]

    async def make_prompts(self, n_tokens: int, seeds: list[int], progress=None, api: str = "completions") -> list[Prompt]:
        """Prompts of exactly ``n_tokens`` tokens, one per seed, counted once per length (token ids
        when the server takes them; see tokbench.engines.textprompts)."""
        from tokbench.engines import textprompts

        if not self.counting or not seeds:
            return textprompts.approximate_prompts(n_tokens, seeds)
        if api == "completions" and self._send_ids():
            if self._lead is None:
                self._lead = await self.tokenize("")  # BOS or nothing: the same for every prompt
            out = await textprompts.id_prompts(self.tokenize, n_tokens, seeds, self._tpw, self._lead)
            if out is not None:
                return out
        done = [0]

        def tick() -> None:
            done[0] += 1
            if progress:
                progress(done[0], None)

        out = await textprompts.text_prompts(self.count_tokens, n_tokens, seeds, check_all=self._tok is not None,
                                             tokens_per_word=self._tpw, on_count=tick)
        words = len(out[0].text.split()) or 1
        self._tpw = max(0.2, out[0].n_tokens / words)
        return out

    async def server_counters(self) -> dict[str, float] | None:
        """The server's cumulative speculative-decoding counters (vLLM ``/metrics``), None if none."""
        if not self.offers.get("metrics"):
            return None
        status, text = await self._get(f"{self.root}/metrics")
        if status != 200 or not isinstance(text, str):
            return None
        return parse_spec_counters(text)

    # ---- requests --------------------------------------------------------------------------
    async def generate(self, request: GenRequest, sink: TokenSink) -> GenResult:
        """Stream one request. Tokens come back as ``token_times`` settled after the stream (each read's
        arrival time, counted in tokens); a request that fails or is cancelled mid-stream hands the
        tokens that arrived to ``sink`` first (per read: its arrival time and token count)."""
        try:
            return await self._generate(request, sink)
        except EngineError as exc:  # a server may echo the key back in its error body
            raise EngineError(exc.error_class, self._scrub(exc.message)) from None

    def _scrub(self, text: str) -> str:
        """``text`` with the API key masked wherever it appears."""
        return text.replace(self._api_key, "[REDACTED]") if self._api_key else text

    async def _generate(self, request: GenRequest, sink: TokenSink) -> GenResult:
        native = self._native_api() if request.api == "completions" else None
        url, body, parse = self._request_bytes(request, native)
        reader = sse.SSEReader(sink, parse)
        try:
            if self._raw is not None:
                from tokbench.engines.rawhttp import post_stream

                host, port, path = self._raw
                await post_stream(host, port, path + url[len(self._raw_base):], self._raw_headers,
                                  body, reader.feed, self.idle_timeout_s, self._pool)
            else:
                await self._aiohttp_stream(url, body, reader)
            return await self._finish(request, reader)
        except BaseException:  # failed or cancelled mid-stream: the tokens that came stay in the record
            reader.flush_sink()
            raise

    async def _aiohttp_stream(self, url: str, body: bytes, reader: sse.SSEReader) -> None:
        import aiohttp

        try:
            async with self._session.post(url, data=body, headers=_JSON) as resp:
                if resp.status != 200:
                    wait = resp.headers.get("Retry-After")  # first: the body is cut to fit
                    prefix = f"Retry-After: {wait}; " if wait else ""
                    raise EngineError(f"http_{resp.status}", (prefix + await resp.text())[:300])
                await sse.read_stream(resp, reader, clock)
        except aiohttp.ClientPayloadError as exc:
            raise EngineError("truncated_stream", str(exc)) from None
        except aiohttp.ServerTimeoutError as exc:  # sock_read idle timeout; it subclasses the
            raise EngineError("timeout_idle", str(exc)) from None  # connection errors below
        except (aiohttp.ClientConnectionError, ConnectionError) as exc:
            raise EngineError("connect", str(exc)) from None
        except TimeoutError as exc:
            raise EngineError("timeout_idle", str(exc)) from None

    async def _finish(self, request: GenRequest, reader: sse.SSEReader) -> GenResult:
        result = reader.result
        if result.usage_output_tokens is None and result.finish_reason == "length" and req_exact(request):
            # No usage in the stream (llama-cpp-python): a "length" finish with min_tokens = max_tokens
            # means exactly max_tokens were generated. Chunks need not map 1:1 to tokens (it holds
            # back tokens that end inside a UTF-8 sequence), so the count is the server's, flagged.
            result.usage_output_tokens = request.max_tokens
            result.native["usage_inferred"] = "finish_reason=length"
        counts = None
        if reader.needs_text_counts() and self._tok is None and self.offers.get("tokenize"):
            # No local tokenizer: the server's own tokenize endpoint counts each read's text (after
            # the stream ended: t_done keeps the request's end; a few ms before the next request).
            counts = await self._text_counts(reader.texts())
        reader.resolve(self._tok.plain if self._tok is not None else None, counts)
        return result

    async def _text_counts(self, texts: list[str]) -> list[int] | None:
        """Tokens of each text by the server's tokenize endpoint (its BOS not counted), None on failure."""
        import asyncio

        if self._lead is None:
            self._lead = await self.tokenize("") or []
        ids = await asyncio.gather(*(self.tokenize(t) if t else asyncio.sleep(0, []) for t in texts))
        if any(i is None for i in ids):
            return None
        lead = len(self._lead)
        return [max(0, len(i) - lead) if len(i) >= lead and i[:lead] == self._lead else len(i) for i in ids]

    def _request_bytes(self, req: GenRequest, native: str | None) -> tuple[str, bytes, Any]:
        """(url, JSON body, parser): the body around the prompt is serialized once per request shape
        (json.dumps of the whole body is most of a request start's CPU, which delays the starts of a
        wave of hundreds of requests)."""
        key = (native, req.max_tokens, req.ignore_eos, req.cache_prompt, req.api)
        parts = self._bodies.get(key)
        if parts is None:
            url, body, parse = self._build(req, native)
            field = "messages" if req.api == "chat" else "prompt"
            marker = "\u0000tokbench-prompt\u0000"
            body[field] = marker
            head, _, tail = json.dumps(body).partition(json.dumps(marker))
            parts = self._bodies[key] = (url, head.encode(), tail.encode(), parse, field)
        url, head, tail, parse, field = parts
        p = req.prompt
        value: Any = p.token_ids if p.token_ids is not None else (p.text or "")
        if field == "messages":
            value = [{"role": "user", "content": p.text or ""}]
        return url, head + json.dumps(value).encode() + tail, parse

    def _build(self, req: GenRequest, native: str | None) -> tuple[str, dict, Any]:
        prompt: Any = req.prompt.token_ids if req.prompt.token_ids is not None else (req.prompt.text or "")
        n = req.max_tokens
        if native == "/completion":
            body = {"prompt": prompt, "n_predict": n, "stream": True, "temperature": 0,
                    "cache_prompt": req.cache_prompt, "ignore_eos": req.ignore_eos, "return_tokens": True}
            return f"{self.root}/completion", body, sse.parse_llama_native
        if native == "/api/generate":
            body = {"model": self.model, "prompt": prompt, "raw": True, "stream": True,
                    "options": {"num_predict": n, "temperature": 0}}
            return f"{self.root}/api/generate", body, sse.parse_ollama
        stream_options: dict[str, Any] = {"include_usage": True}
        if self.offers.get("continuous"):
            stream_options["continuous_usage_stats"] = True  # the running output count in every chunk
        body = {"model": self.model, "max_tokens": n, "stream": True, "temperature": 0,
                "stream_options": stream_options}
        if req.ignore_eos:  # vLLM and llama.cpp honour these; other servers ignore unknown keys
            body.update(ignore_eos=True, min_tokens=n)
        if req.api == "chat":
            body["messages"] = [{"role": "user", "content": req.prompt.text or ""}]
            return f"{self.endpoint}/chat/completions", body, sse.parse_openai
        body["prompt"] = prompt
        return f"{self.endpoint}/completions", body, sse.parse_openai


def req_exact(request: GenRequest) -> bool:
    """True when the request asked for exactly ``max_tokens`` (EOS ignored)."""
    return request.ignore_eos and request.api in ("completions", "chat")
