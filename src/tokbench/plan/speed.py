"""Decode and prefill speed: bandwidth ceiling, calibrated estimate with a band, concurrency.

Decode is memory-bound: each step streams the active weights (attention or linear attention,
router, shared experts, the touched routed experts, output head; the token embedding is only
gathered) plus each sequence's KV cache up to its depth and its recurrent state (read and written
back). The calibrated step time (:func:`step_time`) charges, each with a one-sentence reason:

- weight bytes at the bandwidth efficiency of the kernel class that reads them (float loads reach
  more of the bandwidth than K-quant or lookup-table dequantizing kernels),
- KV/state bytes at the attention kernels' efficiency,
- a fixed time per matrix-vector kernel and per routed-expert (mul_mat_id) kernel: launch and the
  tail where a small matrix leaves most of the GPU idle dominate small matrices,
- a fixed time per linear-attention layer (its recurrent-update kernels), and t0 per token,
- at N sequences: weights once per step, KV per sequence, the distinct experts N tokens touch
  (E * (1 - (1 - k/E)^N) of E), read by the batched kernels: llama.cpp's MMVQ kernel dequantizes
  each block once per column, so its time per byte grows with each column up to
  MMVQ_MAX_BATCH_SIZE = 8 (ggml-cuda/mmvq.cuh); above 8 the tensor-core MMQ kernel takes over at
  about the 8-column cost. So 1/eta ramps linearly from the class's 1/eta_c at N = 1 to
  1/min(eta_c, eta_batch) at N >= 8 (on the H100, eta_batch ~ 0.2: a Q4_K model streams at a third
  of its single-column rate); the step is compute-bound once FLOPs dominate. Rows without ``eta_batch`` (family fits)
  keep the older per-extra-sequence compute term (``decode_batch_eff``).
- behind a server (llama-server, ollama, LM Studio: ``server=True``) each sequence of the step also
  pays the server's per-token work on the CPU, done slot by slot after the GPU step: building and
  sampling the vocabulary-sized candidate list, detokenizing and streaming the chunk
  (llama.cpp tools/server/server.cpp: update_slots -> common_sampler_sample per slot). Charged as
  ``srv_seq + srv_vocab * vocab`` per sequence per step; llama-bench pays none of it.

Prefill of requests admitted while others decode lengthens those streams' token gaps:
:mod:`tokbench.plan.serving` simulates that for a sweep.

Prefill uses a compute roofline with per-kind efficiency (float matmuls, quantized matmuls,
routed-expert matmuls, attention). Parameters are data: :mod:`tokbench.catalog.calibration`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tokbench.plan.kv import kv_read_bytes, state_bytes_per_sequence
from tokbench.plan.memory import WeightBytes, expert_fraction
from tokbench.modelspec.model import ModelSpec


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


def weight_seconds(spec: ModelSpec, wb: WeightBytes, hw, cal, concurrency: int = 1) -> float:
    """Seconds to stream one step's weights, each kernel class at its own efficiency.

    Above one sequence the batched kernels read each class at ``min(eta_class, eta_batch)`` where
    the calibration has ``eta_batch`` (see the module docstring).
    """
    frac = expert_fraction(spec, concurrency)
    ramp = min(max(concurrency, 1) - 1, BATCH_COLUMNS - 1) / (BATCH_COLUMNS - 1) if cal.eta_batch else 0.0

    def eta(c: str) -> float:
        return _ramped(cal.eta_for(c), cal.eta_batch, ramp)

    if not wb.dense_by_class and not wb.experts_by_class:  # a WeightBytes built without the split
        return (wb.dense + wb.experts * frac) / (_ramped(cal.eta, cal.eta_batch, ramp) * hw.bandwidth_bytes)
    total = sum(b / eta(c) for c, b in wb.dense_by_class.items())
    total += frac * sum(b / eta(c) for c, b in wb.experts_by_class.items())
    return total / hw.bandwidth_bytes


BATCH_COLUMNS = 8  # llama.cpp MMVQ_MAX_BATCH_SIZE: columns up to which the batched cost still grows


def _ramped(eta_single: float, eta_batch: float | None, ramp: float) -> float:
    """Efficiency between the single-column rate (ramp 0) and the saturated batched rate (ramp 1)."""
    if not eta_batch or ramp <= 0:
        return eta_single
    inv = 1 / eta_single + ramp * (1 / min(eta_single, eta_batch) - 1 / eta_single)
    return 1 / inv


def fixed_seconds(spec: ModelSpec, wb: WeightBytes, cal) -> float:
    """Per-step time that does not scale with bytes: kernel launches and tails, t0."""
    n_linear = sum(1 for k in spec.kinds if k == "linear")
    return wb.n_mat * cal.c_mat_s + wb.n_mat_id * cal.c_id_s + n_linear * cal.c_lin_s + cal.t0_s


def server_seconds(spec: ModelSpec, cal) -> float:
    """A server's per-sequence, per-token CPU work (sampling over the vocabulary, streaming)."""
    return cal.srv_seq_s + cal.srv_vocab_s * spec.vocab


def step_time(spec: ModelSpec, wb: WeightBytes, hw, cal, depth: int, kv_type: str = "f16",
              concurrency: int = 1, server: bool = False) -> tuple[float, bool]:
    """Seconds of one decode step of ``concurrency`` sequences at ``depth``; True when compute-bound.

    ``server``: the engine runs behind an HTTP server that samples and streams each sequence's token.
    """
    n = max(1, concurrency)
    sb = step_bytes(spec, wb, depth, kv_type, n)
    t_mem = weight_seconds(spec, wb, hw, cal, n) + (sb.kv + sb.state) / (cal.kv_eta * hw.bandwidth_bytes)
    if n > 1 and not cal.eta_batch and cal.decode_batch_eff and hw.fp16_tflops:
        t_mem += (n - 1) * 2.0 * active_params(spec) / (cal.decode_batch_eff * hw.fp16_tflops * 1e12)
    t_compute = 0.0
    if hw.fp16_tflops:
        t_compute = n * flops_per_token(spec, depth) / (cal.prefill_eff * hw.fp16_tflops * 1e12)
    t = max(t_mem, t_compute) + fixed_seconds(spec, wb, cal)
    if server:
        t += n * server_seconds(spec, cal)
    return t, t_compute > t_mem


def decode(spec: ModelSpec, wb: WeightBytes, hw, cal, depth: int, kv_type: str = "f16",
           concurrency: int = 1, server: bool = False) -> DecodeEstimate:
    """Decode estimate on ``hw`` with calibration ``cal`` at context ``depth`` (``server``: behind a server)."""
    one = step_bytes(spec, wb, depth, kv_type, 1).total
    t1, _ = step_time(spec, wb, hw, cal, depth, kv_type, 1, server)
    tn, bound = step_time(spec, wb, hw, cal, depth, kv_type, concurrency, server)
    tps = 1.0 / t1
    return DecodeEstimate(
        bytes_per_token=one, ceiling_tps=hw.bandwidth_bytes / one, tps=tps,
        tps_low=tps * cal.band_low, tps_high=min(tps * cal.band_high, hw.bandwidth_bytes / one),
        concurrency=concurrency, per_stream_tps=1.0 / tn, aggregate_tps=concurrency / tn, compute_bound=bound,
    )


def prefill_flops(spec: ModelSpec, wb: WeightBytes, mean_depth: float) -> dict[str, float]:
    """FLOPs of one prompt token by kind: float matmuls, quantized matmuls, routed experts, attention."""
    dense_params = active_params(spec) - _expert_active_params(spec)
    float_params = min(wb.float_params, dense_params)
    return {"float": 2.0 * float_params, "quant": 2.0 * (dense_params - float_params),
            "moe": 2.0 * _expert_active_params(spec), "attn": attention_flops(spec, int(mean_depth))}


def _expert_active_params(spec: ModelSpec) -> int:
    """Routed-expert weights one token multiplies (k of E slices)."""
    if not spec.n_experts:
        return 0
    total = sum(t.n_elements for t in spec.tensors() if t.is_expert)
    return total * spec.n_experts_used // spec.n_experts


def prefill_seconds_per_token(spec: ModelSpec, wb: WeightBytes, hw, cal, mean_depth: float) -> float | None:
    """Seconds per prompt token at ``mean_depth`` (None without an FP16 peak)."""
    if not hw.fp16_tflops:
        return None
    f = prefill_flops(spec, wb, mean_depth)
    eff = {"float": cal.prefill_eff, "quant": cal.prefill_eff_quant or cal.prefill_eff,
           "moe": cal.prefill_eff_moe or cal.prefill_eff_quant or cal.prefill_eff,
           "attn": cal.prefill_eff_attn or cal.prefill_eff}
    return sum(f[k] / eff[k] for k in f) / (hw.fp16_tflops * 1e12)


def prefill_tps(spec: ModelSpec, hw, cal, context: int, wb: WeightBytes | None = None) -> float | None:
    """Prompt tokens per second for a prompt of ``context`` tokens (None without an FP16 peak)."""
    if not hw.fp16_tflops:
        return None
    avg_depth = max(context, 1) / 2  # token i attends i earlier tokens: the mean is half the prompt
    if wb is None:
        return cal.prefill_eff * hw.fp16_tflops * 1e12 / flops_per_token(spec, int(avg_depth))
    return 1.0 / prefill_seconds_per_token(spec, wb, hw, cal, avg_depth)


def log_ratio(measured: float, predicted: float) -> float:
    """ln(measured / predicted): the residual the calibration band is made of."""
    return math.log(measured / predicted)
