"""The engine protocol: what the load generator needs from an inference engine, and nothing more.

Following guidellm's split (the scheduler owns a backend protocol and never imports a backend),
``tokbench.loadgen`` only sees :class:`Engine`; built-in engines register in
``tokbench.engines.registry``. All timestamps are ``time.perf_counter()`` seconds, taken where
the token becomes visible to the client (chunk arrival over HTTP, token sampled in-process).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

clock = time.perf_counter  # the one monotonic clock of a run

# Called once per chunk as it arrives: (timestamp, tokens carried by the chunk).
TokenSink = Callable[[float, int], None]


@dataclass
class Prompt:
    """A prompt of a known length: text (HTTP engines) and/or token ids (in-process engines)."""

    n_tokens: int  # length as the engine counts it (BOS included when the engine adds one)
    text: str | None = None
    token_ids: list[int] | None = None
    exact: bool = True  # False: the server cannot count; n_tokens is the asked length, not a count


@dataclass
class GenRequest:
    """One generation: ``max_tokens`` output tokens after ``prompt``, greedy, EOS ignored if possible."""

    prompt: Prompt
    max_tokens: int
    ignore_eos: bool = True
    cache_prompt: bool = False  # off by default so prefill is measured honestly
    api: str = "completions"  # or "chat" (HTTP engines)


@dataclass
class GenResult:
    """What an engine reports after a request ends (its tokens went to the sink, or are ``token_times``)."""

    finish_reason: str | None = None
    usage_prompt_tokens: int | None = None
    usage_output_tokens: int | None = None
    native: dict[str, Any] = field(default_factory=dict)  # engine-native timings, as the engine names them
    # Set by engines that settle token counts after the stream (tokbench.engines.sse): one time per
    # output token, where the counts came from, and how many streamed events carried output.
    token_times: list[float] | None = None
    token_source: str = ""
    chunks: int | None = None
    t_done: float | None = None  # when the final event arrived (the request's end, before any settling)


class EngineError(Exception):
    """A request failed; ``error_class`` is a short stable name (``http_503``, ``connect``, ...)."""

    def __init__(self, error_class: str, message: str = ""):
        super().__init__(f"{error_class}: {message}" if message else error_class)
        self.error_class = error_class
        self.message = message


@dataclass
class EngineInfo:
    """Identity of the engine for the run's environment record."""

    name: str
    version: str = ""
    model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Engine(Protocol):
    """An inference engine as the load generator sees it.

    ``max_concurrency`` is how many requests the engine can serve at once *for real* (an
    in-process engine that serializes says 1 and the scheduler refuses higher concurrency rather
    than reporting queueing as concurrency).
    """

    max_concurrency: int
    timestamps_on_loop: bool  # True when token times are read on the event loop (lag skews them)

    async def start(self) -> None:
        """Load the model / start or probe the server; raise UserError if it cannot be used."""

    async def stop(self) -> None:
        """Release everything ``start`` acquired (idempotent)."""

    def info(self) -> EngineInfo:
        """Name, version and model of the engine (valid after ``start``)."""

    async def count_tokens(self, text: str) -> int:
        """Number of tokens the engine makes of ``text`` as a prompt."""

    async def make_prompt(self, n_tokens: int, seed: int) -> Prompt:
        """A prompt of exactly ``n_tokens`` tokens, unique for each ``seed`` (defeats prefix caches)."""

    async def make_prompts(self, n_tokens: int, seeds: list[int], progress=None) -> list[Prompt]:
        """:meth:`make_prompt` for many seeds at once (an HTTP engine counts a base once per length);
        ``progress(done, total)`` may be called as prompts are ready."""

    async def generate(self, request: GenRequest, sink: TokenSink) -> GenResult:
        """Run one request; raise :class:`EngineError` on failure. Tokens reach ``sink(t, k)`` as they
        arrive, or (engines that settle counts after the stream) come back as ``token_times``, and
        those that arrived before a failure or cancel are handed to ``sink`` before it propagates."""
