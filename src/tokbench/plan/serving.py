"""Per-stream decode speed of a closed-loop sweep against a continuous-batching server (llama-server).

What ``tokbench bench`` measures per request is output tokens / (last token - first token), so
anything the server does between two of a stream's tokens counts against it. llama-server's loop
(tools/server/server-context.cpp, update_slots) does, per iteration:

- one decode token for every slot that is generating, plus prompt tokens of newly admitted slots
  up to ``n_batch`` (2048) in the same batch: a request admitted while others decode stalls them
  for its whole prefill;
- on admitting a task into a slot used before, it first saves that slot's sequence to the host-RAM
  prompt cache (``prompt_save`` -> ``llama_state_seq_get_data``: the sequence's KV copied off the
  GPU) before anything else runs: a stall of the sequence's KV bytes at ``save_bw``.

:func:`sweep_per_stream` replays that loop for ``requests`` requests kept ``concurrency`` in flight
(all arriving together, the next sent as soon as one finishes) and returns the median request's
per-stream decode tok/s, the figure the bench reports. The step and prefill times come from :mod:`tokbench.plan.speed`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

N_BATCH = 2048  # llama-server's default logical batch (-b)
IN_PROCESS_BATCH = 512  # tokbench's in-process llama.cpp engine (tokbench.engines.llamacpp, n_batch)


@dataclass
class _Req:
    prompt_left: int
    gen_left: int
    first: float | None = None
    last: float | None = None
    tokens: int = 0


def sweep_per_stream(step_s: Callable[[int], float], prefill_token_s: float, concurrency: int, prompt: int,
                     gen: int, requests: int, reuse_stall_s: float = 0.0, n_batch: int = N_BATCH) -> float:
    """Per-stream decode tok/s of a sweep's median request (see the module docstring).

    ``step_s(n)``: seconds of one decode step of n sequences (server costs included);
    ``prefill_token_s``: seconds per prompt token; ``reuse_stall_s``: stall when a used slot is reused.
    """
    n = max(1, min(concurrency, requests))
    pending, active, done = requests, [], []
    used_slots, clock = 0, 0.0
    while pending or active:
        while pending and len(active) < n:  # closed loop: refill free slots at once
            pending -= 1
            if used_slots >= n:  # slot reused: its previous sequence goes to the prompt cache first
                clock += reuse_stall_s
            used_slots += 1
            active.append(_Req(prompt_left=max(prompt, 1), gen_left=gen))
        decoding = [r for r in active if r.first is not None]
        room = max(n_batch - len(decoding), 1)
        batch_prompt, finishing = 0, []
        for r in active:
            if r.first is None and room > 0:
                take = min(r.prompt_left, room)
                r.prompt_left -= take
                room -= take
                batch_prompt += take
                if r.prompt_left == 0:
                    finishing.append(r)
        clock += (step_s(len(decoding)) if decoding else 0.0) + batch_prompt * prefill_token_s
        for r in decoding + finishing:  # every slot that ends this iteration samples one token
            r.first = clock if r.first is None else r.first
            r.last, r.tokens, r.gen_left = clock, r.tokens + 1, r.gen_left - 1
        for r in [r for r in active if r.gen_left <= 0]:
            active.remove(r)
            done.append(r)
    rates = [(r.tokens - 1) / (r.last - r.first) for r in done if r.tokens > 1 and r.last > r.first]
    # The median request, as the bench reports it: the few requests stalled longest by others' prompts pull a
    # mean down. (Afterwards, on the H200's sets 5 and 6 at 8 and 16 concurrent: the mean read 22.0% / 22.2%
    # off, the median 17.5% / 16.6% with the same slot-save rate, and 21.5% / 21.7% once that rate was
    # refitted to the H100's sweeps through the median: 185 -> 103 MB/s; 166 MB/s once each H100 sweep was replayed
    # on its own measured step, calibrate.serving_fit.save_rate.)
    return statistics.median(rates) if rates else 1.0 / step_s(n)
