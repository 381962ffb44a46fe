"""In-process MLX through mlx-lm's ``stream_generate`` (Metal on a Mac, ``mlx[cpu]`` elsewhere).

One sequence at a time, honestly: MLX's generation is single-stream and not thread-safe for
concurrent use, so ``max_concurrency`` is 1 and the scheduler refuses higher concurrency rather
than reporting queueing as "8 concurrent"; ``--engine mlx-server`` (mlx_lm.server, which batches)
is the way to measure MLX under concurrency. All MLX work runs on one dedicated thread because
MLX streams are per thread. mlx-lm's own ``prompt_tps`` / ``generation_tps`` are kept as native
timings next to the client's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path

from tokbench.engines.protocol import EngineError, EngineInfo, GenRequest, GenResult, Prompt, TokenSink, clock
from tokbench.errors import UserError


class MlxEngine:
    """mlx-lm in this process, one stream at a time."""

    max_concurrency = 1
    timestamps_on_loop = False  # stamped on the MLX thread as each token is produced

    def __init__(self, model: str, **_: object):
        self.model_path = Path(model)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokbench-mlx")
        self._model = self._tok = None

    async def start(self) -> None:
        """Load model and tokenizer on the MLX thread."""
        if not (self.model_path / "config.json").is_file():
            raise UserError(f"not an MLX model dir (no config.json): {self.model_path}")
        await asyncio.get_running_loop().run_in_executor(self._pool, self._load)

    def _load(self) -> None:
        from mlx_lm import load

        try:
            self._model, self._tok = load(str(self.model_path))
        except Exception as exc:  # noqa: BLE001 - whatever mlx-lm raises, the model dir is the cause
            raise UserError(f"mlx-lm could not load {self.model_path}: {exc}") from None
        specials = set(getattr(self._tok, "all_special_ids", []) or [])
        eos = set(getattr(self._tok, "eos_token_ids", []) or [])
        n = len(self._tok.get_vocab()) if hasattr(self._tok, "get_vocab") else self._tok.vocab_size
        self._eos = sorted(eos)
        self._normal = [i for i in range(n) if i not in specials and i not in eos]
        self._bos = getattr(self._tok, "bos_token_id", None)

    async def stop(self) -> None:
        """Drop the model and the MLX thread."""
        self._model = self._tok = None
        self._pool.shutdown(wait=True)

    def info(self) -> EngineInfo:
        """mlx-lm and mlx versions, model dir name."""
        import importlib.metadata as md

        return EngineInfo("mlx", f"mlx-lm {md.version('mlx-lm')} / mlx {md.version('mlx')}", self.model_path.name)

    async def count_tokens(self, text: str) -> int:
        """Prompt tokens of ``text`` with the model's tokenizer."""
        return len(self._tok.encode(text))

    async def make_prompt(self, n_tokens: int, seed: int) -> Prompt:
        """Random plain-vocabulary token ids, exactly ``n_tokens`` long."""
        import random

        rng = random.Random(seed)
        head = [self._bos] if self._bos is not None and n_tokens > 0 else []
        return Prompt(n_tokens, token_ids=head + [rng.choice(self._normal) for _ in range(n_tokens - len(head))])

    async def make_prompts(self, n_tokens: int, seeds: list[int], progress=None, **_: object) -> list[Prompt]:
        """:meth:`make_prompt` for each seed (token ids: exact by construction, no counting)."""
        return [await self.make_prompt(n_tokens, s) for s in seeds]

    async def generate(self, request: GenRequest, sink: TokenSink) -> GenResult:
        """Run ``stream_generate`` on the MLX thread, forwarding each token's timestamp."""
        loop = asyncio.get_running_loop()
        fut_done = {"cancel": False}

        def forward(t: float) -> None:
            if not fut_done["cancel"]:
                sink(t, 1)

        def run() -> GenResult:
            from mlx_lm import stream_generate

            ids = request.prompt.token_ids
            prompt = ids if ids is not None else self._tok.encode(request.prompt.text or "")
            procs = [self._mask_eos] if request.ignore_eos and self._eos else None
            last = None
            for r in stream_generate(self._model, self._tok, prompt, max_tokens=request.max_tokens,
                                     logits_processors=procs):
                loop.call_soon_threadsafe(forward, clock())
                last = r
                if fut_done["cancel"]:
                    break
            if last is None:
                raise EngineError("no_output", "mlx-lm produced no token")
            return GenResult(last.finish_reason, last.prompt_tokens, last.generation_tokens,
                             {"prompt_tps": last.prompt_tps, "generation_tps": last.generation_tps,
                              "peak_memory_gb": last.peak_memory})

        try:
            return await loop.run_in_executor(self._pool, run)
        except asyncio.CancelledError:
            fut_done["cancel"] = True
            raise

    def _mask_eos(self, tokens, logits):
        """Logits processor: end-of-sequence can never be chosen (outputs have the asked length)."""
        import mlx.core as mx

        mask = mx.zeros(logits.shape[-1], dtype=logits.dtype)
        mask[self._eos] = -float("inf")
        return logits + mask
