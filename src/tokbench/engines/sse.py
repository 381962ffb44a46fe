"""Streamed responses -> tokens with their arrival times, counted in tokens, not chunks.

A streamed event may carry several tokens (speculative decoding, stream intervals, a server's
detokenizer holding text until a word ends), so each event's token count comes from the best
source the server offers, and the record says which (``RequestRecord.token_source``):

1. ``server``: the server says per event: llama-server's ``tokens`` array (``/completion`` with
   ``return_tokens``), a running ``usage.completion_tokens`` in every chunk (vLLM and SGLang's
   ``continuous_usage_stats``);
2. ``tokenizer``: a tokenizer (local, or the server's tokenize endpoint) on each event's text,
   scaled so the counts add up to the server's usage total;
3. ``usage_spread``: the usage total spread over the events in proportion to their text length;
4. ``chunks``: one token per event, when the usage total agrees (or the server gives no usage).

Every event of one network read gets the read's arrival time (they arrived together).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tokbench.engines.protocol import EngineError, GenResult, TokenSink

# Content chunks of the common OpenAI shape skip JSON parsing: the client's CPU per token is what
# limits how many streams one core can time cleanly (benchmarks/client_capacity.py).
_FAST_TEXT = b'"text":"'
_FAST_NULL = b'"finish_reason":null'

Parse = Callable[[dict, GenResult, "SSEReader"], "tuple[int, bool]"]


class SSEReader:
    """Incremental SSE ``data:`` events (or NDJSON lines) -> per-read token counts and times.

    Per network read it keeps only (time, tokens) and the bytes: the text of each event is parsed
    again only when counts must be settled by text (the server's total disagrees with the events).
    """

    def __init__(self, sink: TokenSink, parse):
        self.sink, self.parse = sink, parse
        self.result = GenResult()
        self.buf = b""
        self.done = False
        self.times: list[float] = []  # one per network read that carried output
        self.counts: list[int] = []  # tokens (provisional unless exact) of each such read
        self.body: list[bytes] = []  # every read's bytes, for settling counts by text
        self.reads: list[int] = []  # index into ``body`` of each read that carried output
        self.events = 0
        self.exact = True  # every event's count came from the server
        self.last_usage = 0  # running completion_tokens (continuous usage stats)
        self.continuous: bool | None = None  # usage in every chunk (decided at the first content chunk)
        self._fast = parse is parse_openai
        self.sent = 0  # reads already handed to the sink (flush_sink)

    def feed(self, data: bytes, t: float) -> bool:
        """Consume bytes that arrived at ``t``; True once the final event was seen."""
        body = self.body
        k = self._fast_events(data) if self._fast and not self.buf else 0
        if k:
            # Whole unfinished text events and nothing pending: what almost every read of an
            # OpenAI-shaped stream is (the same counts the line loop below gives them).
            self.reads.append(len(body))
            body.append(data)
            self.result.t_done = t
            self.events += k
            self.exact = False
            self.times.append(t)
            self.counts.append(k)
            return False
        body.append(data)
        self.result.t_done = t
        if b"\n" not in data:
            self.buf += data
            return False
        *lines, self.buf = (self.buf + data).split(b"\n") if self.buf else data.split(b"\n")
        k = events = 0
        for line in lines:
            if not line or line == b"\r":
                continue
            if line[:5] == b"data:":
                line = line[5:].strip()
            else:
                line = line.strip()
                if not line or line[:1] == b":":
                    continue
            if line == b"[DONE]":
                self.done = True
                break
            if self._fast and _FAST_TEXT in line and _FAST_NULL in line and b'"usage"' not in line:
                k += 1  # a one-event text chunk, not finished: the shape almost every chunk has
                events += 1
                self.exact = False
                continue
            n, end = self._event(line)
            if n:
                k += n
                events += 1
            if end:
                self.done = True
                break
        if k:
            self.events += events
            self.times.append(t)
            self.counts.append(k)
            self.reads.append(len(self.body) - 1)
        return self.done

    def flush_sink(self) -> None:
        """Hand the tokens counted so far to the sink (once each): for the record of a request that
        failed or was cancelled mid-stream. A request that ends well gets its tokens from
        :meth:`resolve` instead, so reads are not handed over one by one as they come (the
        client's CPU per read is what limits how many streams one core times cleanly)."""
        for i in range(self.sent, len(self.times)):
            self.sink(self.times[i], self.counts[i])
        self.sent = len(self.times)

    @staticmethod
    def _fast_events(data: bytes) -> int:
        """How many events ``data`` holds when it is nothing but whole one-line ``data: {...}``
        events, each an unfinished text chunk without usage (else 0). Counted with a few scans in C
        instead of a Python loop over lines. Why the counts prove the shape: with 2k newlines in k
        non-overlapping pairs every newline is in a pair; every pair but the last (at the very end)
        is followed by ``data: ``, so no blank lines hide between events and each of the k lines
        starts with ``data: ``; k text keys and k null finishes for k lines (JSON escapes the quotes
        inside strings, so these keys cannot come from text) make each line a text chunk. Text that
        holds ``[DONE]`` or a line with two choices takes the line loop."""
        if data[:6] != b"data: " or data[-2:] != b"\n\n" or b'"usage"' in data or b"[DONE]" in data:
            return 0
        if data.find(b"\n") == len(data) - 2:  # one event (the usual read): two scans for its keys
            return 1 if _FAST_TEXT in data and _FAST_NULL in data else 0
        k = data.count(b"\n\n")
        if (data.count(b"\n") != 2 * k or data.count(b"\n\ndata: ") != k - 1 or data.count(_FAST_TEXT) != k
                or data.count(_FAST_NULL) != k):
            return 0
        return k

    def _event(self, line: bytes) -> tuple[int, bool]:
        try:
            chunk = json.loads(line)
        except ValueError:
            raise EngineError("malformed_sse", line[:120].decode(errors="replace")) from None
        if not isinstance(chunk, dict):
            raise EngineError("malformed_json", f"not an object: {line[:120].decode(errors='replace')}")
        if "error" in chunk:
            raise EngineError("server_error", json.dumps(chunk["error"])[:300])
        try:
            return self.parse(chunk, self.result, self)
        except (AttributeError, TypeError, ValueError, KeyError) as exc:  # e.g. "choices": 5
            raise EngineError("malformed_json", f"{exc}: {line[:120].decode(errors='replace')}") from None

    def texts(self) -> list[str]:
        """Output text of each read that carried output (events re-read from the kept bytes; an
        event belongs to the read its closing newline came in)."""
        per_read: list[str] = []
        pending = b""
        for data in self.body:
            text = []
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                line = line.strip()
                if line[:5] == b"data:":
                    line = line[5:].strip()
                if line and line[:1] != b":" and line != b"[DONE]":
                    text.append(_text_of(line))
            per_read.append("".join(text))
        return [per_read[i] for i in self.reads]

    def needs_text_counts(self) -> bool:
        """True when the events' counts disagree with the server's total and must be settled by text."""
        usage = self.result.usage_output_tokens
        return not (self.exact and self.counts) and usage is not None and usage != sum(self.counts)

    def resolve(self, tokenizer=None, text_counts: list[int] | None = None) -> None:
        """Settle per-read token counts into ``result`` (token_times, token_source, chunks).
        ``text_counts``: tokens of each read's text, counted by the server's tokenize endpoint."""
        r = self.result
        r.chunks = self.events
        usage = r.usage_output_tokens
        total = sum(self.counts)
        if self.exact and self.counts:
            counts, source = self.counts, "server"
            if usage is not None and usage != total:  # the server's two counts disagree: trust the total
                counts, source = spread(self.counts, usage), "usage_spread"
        elif usage is None or usage == total:
            counts, source = self.counts, "chunks"
        elif text_counts is not None:
            counts, source = spread(text_counts, usage), "tokenizer"
        elif tokenizer is not None:
            counts, source = spread([len(tokenizer(t)) for t in self.texts()], usage), "tokenizer"
        else:
            counts, source = spread([len(t) for t in self.texts()], usage), "usage_spread"
        r.token_source = source
        if counts.count(1) == len(counts):  # one token a read: the usual case
            r.token_times = list(self.times)
            return
        out: list[float] = []
        for t, k in zip(self.times, counts):  # a read of k tokens: k timestamps, its arrival
            out.extend((t,) * k)
        r.token_times = out


def spread(weights: list[int], total: int) -> list[int]:
    """``total`` split over len(weights) slots in proportion to ``weights`` (largest remainders;
    even when every weight is zero). Sums to ``total`` exactly."""
    if not weights:
        return []
    wsum = sum(max(0, w) for w in weights)
    shares = [total * max(0, w) / wsum for w in weights] if wsum else [total / len(weights)] * len(weights)
    out = [int(s) for s in shares]
    order = sorted(range(len(shares)), key=lambda i: shares[i] - out[i], reverse=True)
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def _text_of(line: bytes) -> str:
    """The output text of one event line (any of the shapes the parsers read)."""
    try:
        chunk = json.loads(line)
    except ValueError:
        return ""
    parts = []
    for choice in chunk.get("choices") or ():
        piece = choice.get("text")
        if piece is None:
            piece = (choice.get("delta") or {}).get("content")
        parts.append(piece or "")
    if "content" in chunk and isinstance(chunk["content"], str):
        parts.append(chunk["content"])
    if isinstance(chunk.get("response"), str):
        parts.append(chunk["response"])
    return "".join(parts)


async def read_stream(resp, reader: SSEReader, clock) -> GenResult:
    """Read an aiohttp response through ``reader`` (one await per network read)."""
    async for data in resp.content.iter_any():
        if reader.feed(data, clock()):
            return reader.result
    raise EngineError("truncated_stream", "stream ended before its final event")


def parse_openai(chunk: dict, result: GenResult, reader: SSEReader) -> tuple[int, bool]:
    """``/v1/completions`` and ``/v1/chat/completions`` chunks (usage per chunk when the server
    streams it continuously: vLLM and SGLang with ``continuous_usage_stats``)."""
    usage = chunk.get("usage")
    k = 0
    for choice in chunk.get("choices") or ():
        piece = choice.get("text")
        if piece is None:
            piece = (choice.get("delta") or {}).get("content")
        finish = choice.get("finish_reason")
        # One event per content chunk, empty text included: llama-cpp-python sends "" for a token
        # that ends inside a UTF-8 sequence. Not counted: a role-only delta (no content key) and an
        # empty closing chunk that only carries finish_reason.
        role_only = piece == "" and "role" in (choice.get("delta") or {})  # vLLM's opening chat delta
        if piece is not None and (piece or not finish) and not role_only:
            k += 1
        if finish:
            result.finish_reason = finish
    if usage:
        result.usage_prompt_tokens = usage.get("prompt_tokens")
        result.usage_output_tokens = usage.get("completion_tokens")
    if reader.continuous is None and k:
        # Usage already in the first content chunk: the server streams its running count with every
        # chunk (a final usage chunk alone says only the total).
        reader.continuous = bool(usage) and isinstance(usage.get("completion_tokens"), int)
    if reader.continuous and usage and chunk.get("choices"):
        done = usage["completion_tokens"]
        k, reader.last_usage = done - reader.last_usage, done  # exact: the server's running count
        return k, False
    if k:
        reader.exact = False
    return k, False


def parse_llama_native(chunk: dict, result: GenResult, reader: SSEReader) -> tuple[int, bool]:
    """llama-server's ``/completion`` stream: ``tokens`` per chunk, ``timings`` at the end."""
    toks = chunk.get("tokens")
    if isinstance(toks, list):
        k = len(toks)
    else:
        k = 1 if chunk.get("content") else 0
        reader.exact = reader.exact and not k
    if chunk.get("stop"):
        timings = chunk.get("timings") or {}
        result.native = dict(timings)  # llama-server's names: predicted_per_second, draft_n ...
        result.usage_prompt_tokens = timings.get("prompt_n", chunk.get("tokens_evaluated"))
        result.usage_output_tokens = timings.get("predicted_n", chunk.get("tokens_predicted"))
        result.finish_reason = chunk.get("stop_type") or "stop"
        return k, True
    return k, False


def parse_ollama(chunk: dict, result: GenResult, reader: SSEReader) -> tuple[int, bool]:
    """Ollama's ``/api/generate`` NDJSON: one token per line, eval counts at the end."""
    k = 1 if chunk.get("response") else 0
    if k:
        reader.exact = False
    if chunk.get("done"):
        keys = ("eval_count", "eval_duration", "prompt_eval_count", "prompt_eval_duration", "total_duration",
                "load_duration")
        result.native = {key: chunk[key] for key in keys if key in chunk}
        if chunk.get("eval_count") and chunk.get("eval_duration"):
            result.native["predicted_per_second"] = chunk["eval_count"] / (chunk["eval_duration"] / 1e9)
        result.usage_prompt_tokens = chunk.get("prompt_eval_count")
        result.usage_output_tokens = chunk.get("eval_count")
        result.finish_reason = chunk.get("done_reason")
        return k, True
    return k, False
