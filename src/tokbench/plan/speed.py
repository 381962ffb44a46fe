"""Decode and prefill speed: bandwidth ceiling, calibrated estimate with a band, concurrency.

Decode is memory-bound: each step streams the active weights (attention or linear attention,
router, shared experts, the touched routed experts, output head; the token embedding is only
gathered) plus each sequence's KV cache up to its depth and its recurrent state (read and written
back). The calibrated step time is ``t = bytes / (eta * bandwidth) + t0``; at large batch the step
becomes compute-bound (2 FLOP per active weight per token plus attention), served at the
calibrated prefill efficiency of the chip's FP16 peak. Prefill uses that compute roofline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tokbench.plan.kv import kv_read_bytes, state_bytes_per_sequence
from tokbench.plan.memory import WeightBytes, expert_fraction
from tokbench.spec.model import ModelSpec


_ACTIVE: dict[int, tuple[ModelSpec, int]] = {}


def active_params(spec: ModelSpec) -> int:
    """Weights one token multiplies (no token embedding; k of E routed experts); memoized per spec object."""
    hit = _ACTIVE.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    if len(_ACTIVE) > 256:
        _ACTIVE.clear()
    n = spec.n_active_params()
    _ACTIVE[id(spec)] = (spec, n)  # keep the spec alive so its id is not reused while cached
    return n


def attention_flops(spec: ModelSpec, depth: int) -> float:
    """FLOPs of the score and value products for one token attending ``depth`` earlier tokens."""
    total = 0.0
    for kind in spec.kinds:
        if kind == "linear":
            # Gated DeltaNet: a state update and read per head, independent of depth.
            total += 4.0 * spec.linear_v_heads * spec.linear_k_dim * spec.linear_v_dim
            continue
        cells = min(depth, spec.sliding_window) if kind == "sliding" and spec.sliding_window else depth
        if kind == "mla":
            width = spec.kv_lora_rank + spec.qk_rope_dim  # absorbed MLA attends in the latent space
            total += 2.0 * spec.n_heads * (width + spec.kv_lora_rank) * cells
        else:
            total += 2.0 * spec.n_heads * spec.head_dim * 2 * cells
    return total


def flops_per_token(spec: ModelSpec, depth: int) -> float:
    """FLOPs of one token's forward pass at context ``depth``."""
    return 2.0 * active_params(spec) + attention_flops(spec, depth)


@dataclass(frozen=True)
class StepBytes:
    """Bytes one decode step moves, by part."""

    weights: float
    kv: float
    state: float

    @property
    def total(self) -> float:
        """All bytes of the step."""
        return self.weights + self.kv + self.state


def step_bytes(spec: ModelSpec, wb: WeightBytes, depth: int, kv_type: str = "f16", concurrency: int = 1) -> StepBytes:
    """Bytes one decode step of ``concurrency`` sequences at ``depth`` streams from memory."""
    n = max(1, concurrency)
    return StepBytes(
        weights=wb.dense + wb.experts * expert_fraction(spec, n),
        kv=n * kv_read_bytes(spec, depth, kv_type),
        state=n * 2 * state_bytes_per_sequence(spec),  # read, then written back
    )


@dataclass(frozen=True)
class DecodeEstimate:
    """Decode speed of one configuration (tok/s per stream unless named aggregate)."""

    bytes_per_token: float  # single stream, the ceiling's denominator
    ceiling_tps: float  # bandwidth / bytes: no engine gets above it
    tps: float  # calibrated single-stream estimate
    tps_low: float
    tps_high: float
    concurrency: int
    per_stream_tps: float  # at ``concurrency``
    aggregate_tps: float  # at ``concurrency``
    compute_bound: bool  # the step at ``concurrency`` is limited by FLOPs, not bytes


def _step_time(spec, wb, hw, cal, depth, kv_type, n) -> tuple[float, bool]:
    b = step_bytes(spec, wb, depth, kv_type, n).total
    t_mem = b / (cal.eta * hw.bandwidth_bytes)
    t_compute = 0.0
    if hw.fp16_tflops:
        t_compute = n * flops_per_token(spec, depth) / (cal.prefill_eff * hw.fp16_tflops * 1e12)
    return max(t_mem, t_compute) + cal.t0_s, t_compute > t_mem


def decode(spec: ModelSpec, wb: WeightBytes, hw, cal, depth: int, kv_type: str = "f16",
           concurrency: int = 1) -> DecodeEstimate:
    """Decode estimate on ``hw`` with calibration ``cal`` at context ``depth``."""
    one = step_bytes(spec, wb, depth, kv_type, 1).total
    t1, _ = _step_time(spec, wb, hw, cal, depth, kv_type, 1)
    tn, bound = _step_time(spec, wb, hw, cal, depth, kv_type, concurrency)
    tps = 1.0 / t1
    return DecodeEstimate(
        bytes_per_token=one, ceiling_tps=hw.bandwidth_bytes / one, tps=tps,
        tps_low=tps * cal.band_low, tps_high=min(tps * cal.band_high, hw.bandwidth_bytes / one),
        concurrency=concurrency, per_stream_tps=1.0 / tn, aggregate_tps=concurrency / tn, compute_bound=bound,
    )


def prefill_tps(spec: ModelSpec, hw, cal, context: int) -> float | None:
    """Prompt tokens per second for a prompt of ``context`` tokens (None without an FP16 peak)."""
    if not hw.fp16_tflops:
        return None
    avg_depth = max(context, 1) / 2  # token i attends i earlier tokens: the mean is half the prompt
    return cal.prefill_eff * hw.fp16_tflops * 1e12 / flops_per_token(spec, int(avg_depth))


def log_ratio(measured: float, predicted: float) -> float:
    """ln(measured / predicted): the residual the calibration band is made of."""
    return math.log(measured / predicted)
