"""In-process llama.cpp (llama-cpp-python's low-level binding): the embedded default engine.

Concurrency, honestly: one ``llama_cpp.Llama`` object is not safe for concurrent sequences, and
serializing requests behind a lock would report queueing as "8 concurrent". Instead this engine
does what ``llama-server -np N`` does: one context with ``n_seq_max = N`` sequences and one
worker thread that builds each ``llama_decode`` batch from every active sequence (one decode
token per generating sequence, then prompt chunks of sequences still prefilling), samples each
sequence greedily and hands tokens to the asyncio side. So concurrency N means N sequences
decoded together in llama.cpp's own batches, as a llama.cpp server would run them.

Prompts are random token ids from the model's normal vocabulary (exact length by construction)
and each sequence's KV cells are removed when it ends, so no prefix is ever reused: prefill is
always measured in full.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tokbench.engines.protocol import EngineError, EngineInfo, GenRequest, GenResult, Prompt, TokenSink, clock
from tokbench.errors import UserError


@dataclass
class _Seq:
    """One request inside the worker thread."""

    tokens: list[int]
    max_tokens: int
    ignore_eos: bool
    sink: TokenSink
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    seq_id: int = -1
    n_fed: int = 0  # prompt tokens already decoded
    n_gen: int = 0
    last: int = -1
    logit_row: int = -1
    cancelled: bool = False
    shared: bool = False  # ever decoded in a batch with another sequence
    perf0: tuple = ()
    native: dict = field(default_factory=dict)


def default_threads() -> int:
    """CPU threads for llama.cpp: every usable core but one, which the client itself needs.

    Measured on a 2-core machine: with 2 threads, llama.cpp's OpenMP barriers stall for hundreds
    of ms whenever the client (or anything else) takes a core, and decode tok/s swings 100x; with
    1 thread, gaps are steady (see tests/engines and the report of issue 7).
    """
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        n = os.cpu_count() or 1
    return max(1, n - 1)


class LlamaCppEngine:
    """llama.cpp in this process, ``n_parallel`` sequences batched in one context."""

    timestamps_on_loop = False  # tokens are stamped in the worker thread, so loop lag cannot skew them

    def __init__(self, model: str | os.PathLike, n_parallel: int = 1, n_ctx_per_seq: int = 4096,
                 n_threads: int | None = None, n_batch: int = 512, n_gpu_layers: int = 999, **_: object):
        self.model_path = Path(model)
        self.max_concurrency = max(1, int(n_parallel))
        self.n_ctx_per_seq = -(-int(n_ctx_per_seq) // 256) * 256  # llama.cpp pads cells to 256 anyway
        self.n_threads = n_threads or default_threads()
        self.n_batch = int(n_batch)
        self.n_gpu_layers = n_gpu_layers
        self._queue: queue.Queue[_Seq | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._model = self._ctx = self._vocab = None
        self._batch = None
        self._stopping = False
        self._pending: collections.deque = collections.deque()  # (sinks, t) not yet delivered
        self._last_wake = 0.0
        self._views: dict[int, np.ndarray] = {}

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the model and start the batching thread."""
        if not self.model_path.is_file():
            raise UserError(f"model file not found: {self.model_path}")
        from tokbench.engines.threads import in_daemon_thread

        await in_daemon_thread(self._load)
        self._thread = threading.Thread(target=self._worker, name="tokbench-llama.cpp", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        import llama_cpp
        from llama_cpp import _logger

        _logger.set_verbose(False)  # llama.cpp logs through llama-cpp-python's callback
        llama_cpp.llama_backend_init()
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = self.n_gpu_layers
        model = llama_cpp.llama_model_load_from_file(str(self.model_path).encode(), mparams)
        if not model:
            raise UserError(f"llama.cpp could not load {self.model_path} (not a GGUF it supports?)")
        self._model = model
        self._vocab = llama_cpp.llama_model_get_vocab(model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_seq_max = self.max_concurrency
        cparams.n_ctx = self.max_concurrency * self.n_ctx_per_seq
        cparams.n_batch = cparams.n_ubatch = self.n_batch
        cparams.n_threads = cparams.n_threads_batch = self.n_threads
        cparams.no_perf = False  # llama.cpp's own eval timings become each lone request's native timings
        ctx = llama_cpp.llama_init_from_model(model, cparams)
        if not ctx:
            raise UserError(f"llama.cpp could not create a context of {cparams.n_ctx} tokens "
                            f"({self.max_concurrency} x {self.n_ctx_per_seq}); lower --context-depth or concurrency")
        self._ctx = ctx
        self._mem = llama_cpp.llama_get_memory(ctx)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._scan_vocab(llama_cpp)

    def _scan_vocab(self, llama_cpp) -> None:
        # End-of-generation ids are masked when ignore_eos (llama-server's ignore_eos does the same
        # with a -inf logit bias); prompts draw from plain text tokens only.
        eog, normal = [], []
        for tid in range(self.n_vocab):
            if llama_cpp.llama_vocab_is_eog(self._vocab, tid):
                eog.append(tid)
            elif llama_cpp.llama_vocab_get_attr(self._vocab, tid) & llama_cpp.LLAMA_TOKEN_ATTR_NORMAL:
                normal.append(tid)
        self._eog = np.array(eog, dtype=np.int64)
        self._eog_set = frozenset(eog)
        self._normal = np.array(normal or range(self.n_vocab), dtype=np.int64)
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))
        self._bos = llama_cpp.llama_vocab_bos(self._vocab)

    async def stop(self) -> None:
        """Stop the worker, fail what is still queued, free the context and model."""
        if self._thread is not None:
            self._stopping = True
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join, 10)
            self._thread = None
        import llama_cpp

        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            llama_cpp.llama_free(self._ctx)
            self._ctx = None
        if self._model:
            llama_cpp.llama_model_free(self._model)
            self._model = None

    def info(self) -> EngineInfo:
        """llama-cpp-python's version and the model file."""
        import llama_cpp

        return EngineInfo("llama.cpp", f"llama-cpp-python {llama_cpp.__version__}", self.model_path.name,
                          {"n_parallel": self.max_concurrency, "n_ctx_per_seq": self.n_ctx_per_seq,
                           "n_threads": self.n_threads, "n_batch": self.n_batch,
                           "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip()})

    # ---- prompts ---------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` as a prompt (BOS added when the model adds one)."""
        import llama_cpp

        raw = text.encode()
        n_max = len(raw) + 8
        buf = (llama_cpp.llama_token * n_max)()
        n = llama_cpp.llama_tokenize(self._vocab, raw, len(raw), buf, n_max, True, False)
        if n < 0:
            raise EngineError("tokenize", f"needs {-n} tokens")
        return list(buf[:n])

    async def count_tokens(self, text: str) -> int:
        """Number of prompt tokens ``text`` becomes."""
        return len(self.tokenize(text))

    async def make_prompt(self, n_tokens: int, seed: int) -> Prompt:
        """Random plain-text token ids, exactly ``n_tokens`` long (BOS first when the model uses one)."""
        rng = np.random.default_rng(seed)
        head = [self._bos] if self._add_bos and n_tokens > 0 else []
        body = rng.choice(self._normal, size=max(0, n_tokens - len(head))).tolist()
        return Prompt(n_tokens=n_tokens, token_ids=head + body)

    async def make_prompts(self, n_tokens: int, seeds: list[int], progress=None, **_: object) -> list[Prompt]:
        """:meth:`make_prompt` for each seed (token ids: exact by construction, no counting)."""
        return [await self.make_prompt(n_tokens, s) for s in seeds]

    # ---- requests --------------------------------------------------------------------------
    async def generate(self, request: GenRequest, sink: TokenSink) -> GenResult:
        """Queue the request for the batching thread and wait for its end."""
        ids = request.prompt.token_ids
        if ids is None:
            ids = self.tokenize(request.prompt.text or "")
        if len(ids) + request.max_tokens > self.n_ctx_per_seq:
            raise EngineError("context_overflow", f"{len(ids)}+{request.max_tokens} > {self.n_ctx_per_seq}")
        loop = asyncio.get_running_loop()
        seq = _Seq(list(ids), request.max_tokens, request.ignore_eos, sink, loop.create_future(), loop)
        self._queue.put(seq)
        try:
            return await seq.future
        except asyncio.CancelledError:
            seq.cancelled = True  # the worker drops it at its next step
            raise

    # ---- worker thread ---------------------------------------------------------------------
    def _worker(self) -> None:
        active: list[_Seq] = []
        free = list(range(self.max_concurrency))
        while not self._stopping:
            self._admit(active, free)
            if any(s.cancelled for s in active):
                for s in [s for s in active if s.cancelled]:
                    active.remove(s)
                    self._release(s, free)
            if active:
                self._step(active, free)
        for s in active:
            self._finish(s, free, EngineError("stopped", "engine stopped"))
        while not self._queue.empty():
            s = self._queue.get_nowait()
            if s is not None:
                s.loop.call_soon_threadsafe(_settle, s.future, EngineError("stopped", "engine stopped"))

    def _admit(self, active: list[_Seq], free: list[int]) -> None:
        if active and self._queue.empty():
            return  # the per-token fast path: nothing new to admit (no lock, no exception)
        while free:
            try:
                s = self._queue.get(timeout=0.05) if not active else self._queue.get_nowait()
            except queue.Empty:
                return
            if s is None:
                return
            if s.cancelled:
                continue
            s.seq_id = free.pop(0)
            s.perf0 = self._perf()
            active.append(s)

    def _step(self, active: list[_Seq], free: list[int]) -> None:
        import llama_cpp

        b, n = self._batch, 0
        if len(active) > 1:
            for s in active:
                s.shared = True
        for s in active:  # decode tokens first: generating sequences are never starved by prefill
            s.logit_row = -1
            if s.n_fed == len(s.tokens):
                n = _put(b, n, s.last, len(s.tokens) + s.n_gen - 1, s.seq_id, True)
                s.logit_row = n - 1
        for s in active:
            room = self.n_batch - n
            if s.n_fed < len(s.tokens) and room > 0:
                chunk = s.tokens[s.n_fed:s.n_fed + room]
                for j, tok in enumerate(chunk):
                    last = s.n_fed + j == len(s.tokens) - 1
                    n = _put(b, n, tok, s.n_fed + j, s.seq_id, last)
                s.n_fed += len(chunk)
                if s.n_fed == len(s.tokens):
                    s.logit_row = n - 1
        b.n_tokens = n
        rc = llama_cpp.llama_decode(self._ctx, b)
        if rc != 0:
            for s in list(active):
                self._finish(s, free, EngineError("decode", f"llama_decode returned {rc}"))
            active.clear()
            return
        self._sample(active, free, llama_cpp)

    def _sample(self, active: list[_Seq], free: list[int], llama_cpp) -> None:
        sampled = []
        for s in active:
            if s.logit_row < 0:
                continue
            ptr = llama_cpp.llama_get_logits_ith(self._ctx, s.logit_row)
            addr = ctypes.addressof(ptr.contents)
            logits = self._views.get(addr)
            if logits is None:  # the output buffer is reused step after step: view it once
                logits = self._views[addr] = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))
            if s.ignore_eos and len(self._eog):
                logits[self._eog] = -np.inf
            s.last = int(logits.argmax())
            s.n_gen += 1
            sampled.append(s)
        t = clock()  # the tokens of this step exist from here on
        if not sampled:
            return
        # Timestamps are taken here, so delivery to the event loop can wait: waking the loop for
        # every token costs ~50 us of GIL hand-over per token (3.5% of a 3 ms decode step, measured),
        # which would slow the very engine being measured. Tokens are queued and handed over in
        # batches: at least every 50 ms, and always before a request's end is reported.
        self._pending.append(([(s.sink, s.future) for s in sampled], t))
        if t - self._last_wake > 0.05:
            self._wake(sampled[0].loop)
        for s in sampled:
            is_eog = s.last in self._eog_set
            if s.n_gen >= s.max_tokens or (is_eog and not s.ignore_eos):
                active.remove(s)
                if not s.shared:
                    s.native = self._native(s.perf0, self._perf())
                self._finish(s, free, GenResult("length" if s.n_gen >= s.max_tokens else "stop",
                                                len(s.tokens), s.n_gen, s.native))

    def _perf(self) -> tuple:
        import llama_cpp

        d = llama_cpp.llama_perf_context(self._ctx)
        return (d.t_p_eval_ms, d.n_p_eval, d.t_eval_ms, d.n_eval)

    @staticmethod
    def _native(p0: tuple, p1: tuple) -> dict:
        """llama.cpp's own timings of a request that ran alone, named as llama-server names them.

        llama.cpp counts a decode of one token as "eval" and larger batches as "prompt eval"; for a
        lone sequence the n-1 decodes after the first token are exactly its generation steps.
        """
        pp_ms, pp_n, ev_ms, ev_n = (b - a for a, b in zip(p0, p1))
        out = {"prompt_ms": pp_ms, "prompt_n": pp_n, "predicted_ms": ev_ms, "predicted_n": ev_n}
        if ev_ms > 0:
            out["predicted_per_second"] = ev_n / (ev_ms / 1000.0)
        if pp_ms > 0:
            out["prompt_per_second"] = pp_n / (pp_ms / 1000.0)
        return out

    def _release(self, s: _Seq, free: list[int]) -> None:
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(self._mem, s.seq_id, -1, -1)  # no prefix reuse across requests
        free.append(s.seq_id)

    def _finish(self, s: _Seq, free: list[int], outcome: GenResult | Exception) -> None:
        self._release(s, free)
        self._wake(s.loop)  # queued tokens first (call_soon_threadsafe keeps order), then the end
        s.loop.call_soon_threadsafe(_settle, s.future, outcome)

    def _wake(self, loop: asyncio.AbstractEventLoop) -> None:
        self._last_wake = clock()
        loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        """On the event loop: hand queued token timestamps to their sinks, in order."""
        while self._pending:
            items, t = self._pending.popleft()
            _deliver(items, t)


def _put(b, n: int, tok: int, pos: int, seq_id: int, logits: bool) -> int:
    """Append one token to a llama_batch (what llama.cpp's common_batch_add does)."""
    b.token[n] = tok
    b.pos[n] = pos
    b.n_seq_id[n] = 1
    b.seq_id[n][0] = seq_id
    b.logits[n] = 1 if logits else 0
    return n + 1


def _deliver(items: list, t: float) -> None:
    for sink, fut in items:
        if not fut.done():
            sink(t, 1)


def _settle(fut: asyncio.Future, outcome) -> None:
    if fut.done():
        return
    if isinstance(outcome, BaseException):
        fut.set_exception(outcome)
    else:
        fut.set_result(outcome)

