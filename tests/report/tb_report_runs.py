"""Real stored runs for report tests: RequestRecords built here, written through the store API."""

from __future__ import annotations

import random
from pathlib import Path

from tokbench.records import ERROR, RequestRecord
from tokbench.store import open_store

CONFIG = {"model": "synthetic llama 3.02B", "quant": "Q4_K_M", "engine": "llama.cpp", "gen_tokens": 32}
ENV = {"hardware_id": "h100-sxm", "host": "testhost"}


def make_records(depth: int, conc: int, n: int, ttft_s: float, itl_s: float, tokens: int = 32,
                 seed: int = 0, jitter: float = 0.05, errors: int = 0, t0: float = 1000.0) -> list[RequestRecord]:
    """``n`` ok requests (and ``errors`` failed ones) at one sweep point, with jittered timings."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        start = t0 + i * 0.01
        first = start + ttft_s * (1 + rng.uniform(-jitter, jitter))
        times, t = [first], first
        for _ in range(tokens - 1):
            t += itl_s * (1 + rng.uniform(-jitter, jitter))
            times.append(t)
        out.append(RequestRecord(point=f"c={conc} d={depth}", index=i, concurrency=conc, context_depth=depth,
                                 prompt_tokens=depth, gen_tokens_requested=tokens, t_start=start,
                                 t_first_token=first, t_end=t, token_times=times, output_tokens=tokens))
    for j in range(errors):
        out.append(RequestRecord(point=f"c={conc} d={depth}", index=n + j, concurrency=conc, context_depth=depth,
                                 prompt_tokens=depth, gen_tokens_requested=tokens, t_start=t0, status=ERROR,
                                 error_class="http_503", error_message="busy"))
    return out


def make_run(db: Path, points: list[dict], config: dict | None = None, environment: dict | None = None,
             name: str | None = None, seed: int = 0) -> str:
    """Store one complete run with the given points (kwargs of :func:`make_records`); returns its id."""
    with open_store(db) as store:
        run_id = store.create_run("bench", config or CONFIG, environment or ENV, name=name)
        for k, p in enumerate(points):
            store.add_records(run_id, make_records(seed=seed * 100 + k, **p))
        store.finish_run(run_id, "complete")
    return run_id
