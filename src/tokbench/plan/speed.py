"""Decode and prefill speed from how an engine spends a token (speed model v4).

One decode step of N sequences at context depth d costs (every term a one-line reason; the
parameters are data, fitted across machines by ``scripts/fit_speed.py``, resolved per hardware x
engine by :func:`tokbench.catalog.calibration.get_calibration`):

- **weights, per ggml storage type**: each type's matrix kernels are bound by two roofs, the memory
  stream ``bytes / (eta_mem * bandwidth)`` and the kernel's own throughput
  ``work / (rho_type * units * clock)``: the dequantize-and-dot work per weight over what the chip's
  compute units finish per cycle (SMs on NVIDIA, GPU cores on Apple, the probed matmul rate on a CPU).
  At batch 1 llama.cpp's CUDA kernels on Hopper are held by the second roof for K-quants (an H200
  decodes a Q4_K_M model no faster than an H100 although its memory is 43% faster); float weights by
  the first. The two combine as a smooth maximum ``(a^p + b^p)^(1/p)``: a kernel near both roofs is
  slower than either alone. ``rho`` belongs to a storage type and a chip generation, so an H200
  inherits the H100's compute side and only its bandwidth changes.
- **routed experts**: a step reads the touched share of each expert stack (1 - (1 - k/E)^N of E) and
  its work grows with the tokens routed: ``touched + kappa * (N*k - touched)`` expert-columns.
- **batched columns**: llama.cpp's MMVQ kernel re-does the dot work per column up to 8 columns
  (``MMVQ_MAX_BATCH_SIZE``), so dense work is ``1 + kappa * (N - 1)`` times one column's; beyond 8
  the tensor-core MMQ kernels dequantize each touched weight once into tiles (``mmq`` times one
  column's work, per kernel class) and run the columns' FLOPs on the tensor cores.
- **KV cache and recurrent state**: the attention kernels stream the cache (memory roof, at their own
  efficiency) and multiply it (their throughput roof, ``rho_att`` FLOPs per unit per cycle): with few
  KV heads at long context the flash-attention decode kernel runs out of parallel work, not bytes.
  On CPUs a third, additive term: ``att_row`` cycles per KV head and cached token (:func:`attention_rows`),
  and a fourth for Gated DeltaNet layers: ``state_c`` core cycles per byte of their state (:func:`delta_net_update_bytes`).
- **graph nodes**: a fixed cost per node of the decode graph (launch, tail, synchronisation) of the
  engine's backend on that generation, times the nodes llama.cpp runs for this architecture
  (:mod:`tokbench.plan.work`): this is what 60 Gated DeltaNet layers and 512-expert routing cost.
  A matrix kernel's throughput roof also holds its last, partial wave: one unit working through
  one row, ``row_s`` per weight of the row length, per kernel class (a memory-bound kernel hides it).
  On the H100 this tail, not a fixed launch cost, is why a 3B model's small matrices run relatively
  faster and a 70B model's long rows relatively slower than weights alone would say.
- **behind a server** (llama-server, Ollama, LM Studio): per sequence per step, the server's CPU
  work (sampling over the vocabulary, detokenizing, streaming): ``srv_seq + srv_vocab * vocab``.

Prefill is a compute roofline per FLOP kind (float matmuls, quantized matmuls, routed experts,
attention) at efficiencies of the backend and generation, plus the nodes of one ubatch; the output
head is not among a prompt token's FLOPs (logits of the last prompt token only), where a batched
decode step's FLOPs count it for every sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tokbench.plan.kv import DEFAULT_UBATCH, kv_read_bytes, state_bytes_per_sequence
from tokbench.plan.memory import expert_fraction, kernel_class
from tokbench.plan.work import WorkProfile
from tokbench.modelspec.model import ModelSpec

# Layers that attend over no cache: Mamba layers (a constant state, counted in the state bytes) and
# feed-forward-only layers (Nemotron-H's). The attention terms below skip them.
NO_ATTENTION = ("mamba", "ffn")
BATCH_COLUMNS = 8  # llama.cpp MMVQ_MAX_BATCH_SIZE: columns up to which the batched dot work grows
# GPUs whose llama.cpp backend multiplies float weights (F16, BF16, F32) of a batched step in kernels that load
# each weight once and do one multiply-add per column (ggml-cuda: mul_mat_vec_f up to MMVF_MAX_BATCH_SIZE = 8
# columns, the tensor-core mmf kernel above; the HIP port alike), where a quantized weight is unpacked again
# for every column (mul_mat_vec_q's vec_dot per column): ``kappa`` and the MMQ work are a quantized kernel's.
# Their FLOPs above 8 columns are counted as every type's (batched_flops_seconds). Taken from the source:
# the fit has no batched float row (afterwards on the H200: llama-3.1-8b F16 at 8 and 16 concurrent, set 8,
# measured steps of 12.2 and 17.6 ms where steps with kappa's per-column work read 25.9 and 31.4 ms).
FLOAT_ONE_READ = ("nvidia", "amd")

_ACTIVE: dict[int, tuple[ModelSpec, int]] = {}


def active_params(spec: ModelSpec) -> int:
    """Weights one token multiplies (no token embedding; k of E routed experts); memoized per spec object."""
    hit = _ACTIVE.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    if len(_ACTIVE) > 256:
        _ACTIVE.clear()
    from tokbench.plan.weight_sums import counts  # catalog models: committed, tested equal

    known = counts(spec)
    n = known[1] if known else spec.n_active_params()
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
        if kind in NO_ATTENTION:
            continue
        cells = min(depth, spec.sliding_window) if kind == "sliding" and spec.sliding_window else depth
        if kind == "mla":
            width = spec.kv_lora_rank + spec.qk_rope_dim  # absorbed MLA attends in the latent space
            total += 2.0 * spec.n_heads * (width + spec.kv_lora_rank) * cells
        else:
            total += 2.0 * spec.n_heads * spec.head_dim * 2 * cells
    return total


def attention_rows(spec: ModelSpec, depth: int) -> float:
    """KV rows one token's attention visits: KV heads x cached tokens, summed over attention layers.

    On the CPU, llama.cpp's decode attention costs a near-constant time per (KV head x cached token)
    whatever the head width (measured on this project's host: head_dim 64 and 128 cost the same per
    KV row, ~300 ns at one thread; data/cpu_host), which neither its bytes nor its FLOPs describe.
    """
    total = 0.0
    for kind in spec.kinds:
        if kind == "linear" or kind in NO_ATTENTION:
            continue
        cells = min(depth, spec.sliding_window) if kind == "sliding" and spec.sliding_window else depth
        total += (1 if kind == "mla" else spec.n_kv_heads) * cells
    return total


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


def step_bytes(spec: ModelSpec, work: WorkProfile, depth: int, kv_type: str = "f16", concurrency: int = 1) -> StepBytes:
    """Bytes one decode step of ``concurrency`` sequences at ``depth`` streams from memory."""
    n = max(1, concurrency)
    frac = expert_fraction(spec, n)
    weights = sum(w.dense_bytes + frac * w.expert_bytes for w in work.types.values())
    return StepBytes(weights=weights, kv=n * kv_read_bytes(spec, depth, kv_type),
                     state=n * 2 * state_bytes_per_sequence(spec))  # state read, then written back


def delta_net_update_bytes(spec: ModelSpec) -> int:
    """Bytes of Gated DeltaNet state one sequence's decode step reads and writes back.

    On CPUs llama.cpp's Gated DeltaNet layers cost more than their bytes at the memory roof: the lent
    Xeon decoded qwen3.5-35b-a3b, qwen3.5-27b and qwen3-next-80b-a3b 26-47% slower than planned (CPU set 9,
    data/cpu_device/results.md), as a Graviton4 did qwen3.5-35b-a3b; a fitted cost in core cycles per
    state byte (``state_c``) takes it, leave-one-machine-out over the CPU rows 28.7% -> 26.7% (a cost per
    layer instead: 27.2%; spread over the threads: 27.7%). Mamba layers (Nemotron-H) ran as planned and
    are left out."""
    return 2 * state_bytes_per_sequence(spec, ("linear",))


def smooth_max(a: float, b: float, p: float) -> float:
    """(a^p + b^p)^(1/p): the slower roof, and slower still where both roofs are close."""
    if a <= 0 or b <= 0:
        return max(a, b)
    hi = max(a, b)
    return hi * ((a / hi) ** p + (b / hi) ** p) ** (1.0 / p)


CACHE_RESIDENT_SHARE = 0.5  # weights up to this share of the last-level cache stay there between tokens


def cache_resident(hw, weight_bytes: float) -> bool:
    """True when the weights decode touches from token to token (every expert of a MoE) fit in half this
    CPU's last-level cache (known for probed hosts).

    The lent Xeon VMs (300 MiB L3) decoded the project's 14-130 MiB synthetic models up to twice as fast
    per weight as their 2-8 GB models on the same threads, where this 2-vCPU VM (32 MiB L3) ran its 30 MiB
    model at its 3B model's rate; a half share, against all of it, was chosen by leave-one-machine-out error
    over the CPU rows (28.1% either way; a quarter 29.1%)."""
    return bool(hw.kind == "cpu" and hw.llc_mib and weight_bytes <= CACHE_RESIDENT_SHARE * hw.llc_mib * 2**20)


def stream_bandwidth(hw, k, resident: bool = False) -> float:
    """Bytes/s a streaming kernel reaches: the memory's share ``eta_mem`` of the nominal bandwidth; on a
    CPU also at most what each core used streams (a few cores cannot keep many memory channels busy):
    the probe's one-core read times ``bw_probe`` where the host was probed, else ``bw_core``. Weights
    resident in the cache (:func:`cache_resident`) are not held to the cores' memory streams."""
    bw = hw.bandwidth_bytes
    if hw.kind == "cpu" and hw.compute_units and not resident:
        per_core = hw.core_bandwidth_gbs * 1e9 * k.bw_probe if hw.core_bandwidth_gbs and k.bw_probe else k.bw_core
        if per_core:
            bw = min(bw, hw.compute_units * per_core)
    return k.eta_mem * bw


CPU_REF_CLOCK_HZ = 2.6e9  # a CPU without a catalog clock: the median of the sourced ARM clocks


def row_unit(hw) -> float:
    """What one unit of the fitted row term ``row_s`` is worth in seconds: 1 on accelerators (seconds per
    weight of one row); on CPUs a cycle of the core (``row_s`` counts cycles there), so a faster core
    pays its serial part of a matrix kernel in less time."""
    if hw.kind != "cpu":
        return 1.0
    return 1.0 / ((hw.clock_mhz or 0) * 1e6 or CPU_REF_CLOCK_HZ)


def roof_rate(hw) -> float:
    """Units x clock (Hz) of the kernel-throughput roof; a CPU host without them uses its probed matmul rate."""
    rate = hw.unit_clock_hz
    if rate:
        return rate
    return (hw.fp16_tflops or 0.1) * 1e12


@dataclass(frozen=True)
class StepTime:
    """Seconds of one decode step by part, and which roof holds the weights."""

    weights: float
    kv: float
    nodes: float
    batched_flops: float
    server: float
    compute_bound: bool

    @property
    def total(self) -> float:
        """The step's seconds."""
        return self.weights + self.kv + self.nodes + self.batched_flops + self.server


def weight_seconds(spec: ModelSpec, work: WorkProfile, hw, k, n: int, resident: bool = False) -> tuple[float, bool]:
    """Seconds of the weight kernels of one step of ``n`` sequences; True when the throughput roof holds.

    Up to 8 columns (llama.cpp's MMVQ kernels) the dot work grows by ``kappa`` per extra column (an
    expert stack's work by the columns routed to its touched experts); above 8 the tensor-core MMQ
    kernels dequantize each touched weight into tiles once, at ``mmq[class]`` times one column's work,
    and their FLOPs go to the tensor cores (:func:`batched_flops_seconds`). ``resident``: the step's weights
    sit in the CPU's last-level cache (:func:`cache_resident`, decided once per step by :func:`step_parts`).
    """
    frac = expert_fraction(spec, n)
    bw = stream_bandwidth(hw, k, resident)
    share = k.cache_frac if resident and k.cache_frac else 1.0  # what reading from the cache costs against memory
    rate = roof_rate(hw)
    unit = row_unit(hw)
    e = spec.n_experts or 1
    touched = frac * e
    total, mem_total, cmp_total = 0.0, 0.0, 0.0
    for ty, w in work.types.items():
        one_read = kernel_class(ty) == "float" and hw.kind in FLOAT_ONE_READ  # one load serves every column
        m = 1 if one_read else min(n, BATCH_COLUMNS)
        dense = w.dense_elems * (1 + k.kappa * (m - 1))
        experts = w.expert_elems * (touched + k.kappa * max(m * (spec.n_experts_used or 1) - touched, 0)) / e
        if n > BATCH_COLUMNS and not one_read:  # the switch to MMQ never makes a step cheaper than 8 columns were
            omega = k.mmq.get(kernel_class(ty), 1 + k.kappa * (BATCH_COLUMNS - 1))
            dense, experts = max(dense, w.dense_elems * omega), max(experts, w.expert_elems * frac * omega)
        mem = share * (w.dense_bytes + frac * w.expert_bytes) / bw
        cmp = (dense + experts) / (k.rho(ty) * rate) + w.row_sum * k.row_tail(ty) * unit
        total += smooth_max(mem, cmp, k.p)
        mem_total += mem
        cmp_total += cmp
    return total, cmp_total > mem_total


def token_matmul_elems(spec: ModelSpec, work: WorkProfile) -> float:
    """Weights one token's matrix products multiply: every dense weight, the output head included (tied
    or not: every sequence of a decode step takes its logits), and k of E routed experts' weights."""
    used = (spec.n_experts_used / spec.n_experts) if spec.n_experts else 0.0
    return sum(w.dense_elems + used * w.expert_elems for w in work.types.values())


# Matrix FLOPs one compute unit does per cycle, per kind of chip: an Ampere GA102 SM's tensor cores in FP16
# (RTX 3090: 142 TFLOPS dense over 82 SMs at 1.695 GHz), an Apple GPU core (M2 Ultra: 27.2 TFLOPS over 76
# cores at 1.398 GHz), an RDNA 3 compute unit (Ryzen AI Max+ 395: 59.4 TFLOPS over 40 CUs at 2.9 GHz), a
# CPU core with two 256-bit FMA pipes in FP32 (AVX2; a NEON core with four 128-bit pipes alike). The prefill
# fit's factor per chip generation says what that generation's units do against this.
UNIT_MATMUL_FLOPS = {"nvidia": 1024.0, "apple": 256.0, "amd": 512.0, "cpu": 32.0}


def matmul_peak(hw) -> float:
    """FLOP/s the prefill and batched efficiencies are shares of (0: unknown): units x clock x the kind's
    matrix FLOPs per unit-cycle. Not the catalog's FP16 TFLOPS: vendors quote those dense for some cards
    and with 2:4 sparsity (twice as high) for others (an RTX A6000's 309.7 against an RTX 3090's 142), and
    llama.cpp's kernels use neither sparsity nor the accumulate width GeForce cards run at half rate; a
    catalog CPU has none at all (a probed host's matmul rate is numpy's, not llama.cpp's kernels')."""
    per = UNIT_MATMUL_FLOPS.get(hw.kind)
    if per and hw.unit_clock_hz:
        return per * hw.unit_clock_hz
    return (hw.fp16_tflops or 0.0) * 1e12


def batched_flops_seconds(spec: ModelSpec, work: WorkProfile, hw, k, n: int) -> float:
    """Above 8 columns the tensor-core kernels multiply every column: FLOPs at the quantized-matmul efficiency."""
    peak = matmul_peak(hw)
    if n <= BATCH_COLUMNS or not peak:
        return 0.0
    return n * 2.0 * token_matmul_elems(spec, work) / (k.prefill["quant"] * peak)


def server_seconds(spec: ModelSpec, k) -> float:
    """A server's per-sequence, per-token CPU work (sampling over the vocabulary, streaming)."""
    return k.srv_seq_s + k.srv_vocab_s * spec.vocab


def step_parts(spec: ModelSpec, work: WorkProfile, hw, k, depth: int, kv_type: str = "f16",
               concurrency: int = 1, server: bool = False) -> StepTime:
    """One decode step of ``concurrency`` sequences at ``depth``, by part (see the module docstring)."""
    n = max(1, concurrency)
    sb = step_bytes(spec, work, depth, kv_type, n)
    # What stays in the cache from token to token is every weight the tokens touch: a MoE routes each token
    # to other experts, so all of them (a 1-layer Qwen3-30B-A3B cut, 36 MB a token of 388 MiB, decoded at
    # memory speed on the dev VM: data/cpu_host/kernel_probe/)
    resident = cache_resident(hw, sum(w.dense_bytes + w.expert_bytes for w in work.types.values()))
    w, bound = weight_seconds(spec, work, hw, k, n, resident)
    kv = smooth_max((sb.kv + sb.state) / (k.eta_kv * stream_bandwidth(hw, k, resident)),
                    n * attention_flops(spec, depth) / (k.rho_att * k.rho_gen * roof_rate(hw)), k.p)
    if k.att_row:  # CPU backends: cycles per KV row visited, over the threads' cycles
        kv += n * attention_rows(spec, depth) * k.att_row / roof_rate(hw)
    if k.state_c:  # CPU backends: the Gated DeltaNet state's update, at one core's pace (cycles per byte)
        kv += n * delta_net_update_bytes(spec) * k.state_c * row_unit(hw)
    return StepTime(weights=w, kv=kv, nodes=(work.nodes - work.matmul_nodes) * k.node_s,
                    batched_flops=batched_flops_seconds(spec, work, hw, k, n),
                    server=n * server_seconds(spec, k) if server else 0.0, compute_bound=bound)


def step_time(spec: ModelSpec, work: WorkProfile, hw, k, depth: int, kv_type: str = "f16",
              concurrency: int = 1, server: bool = False) -> tuple[float, bool]:
    """(seconds of one decode step of ``concurrency`` sequences at ``depth``, weights throughput-bound)."""
    st = step_parts(spec, work, hw, k, depth, kv_type, concurrency, server)
    return st.total, st.compute_bound


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
    compute_bound: bool  # the weights at ``concurrency`` are held by the kernels' throughput, not bytes


def decode(spec: ModelSpec, work: WorkProfile, hw, k, depth: int, kv_type: str = "f16",
           concurrency: int = 1, server: bool = False) -> DecodeEstimate:
    """Decode estimate on ``hw`` with resolved parameters ``k`` at ``depth`` (``server``: behind a server)."""
    one = step_bytes(spec, work, depth, kv_type, 1).total
    t1, _ = step_time(spec, work, hw, k, depth, kv_type, 1, server)
    tn, bound = step_time(spec, work, hw, k, depth, kv_type, concurrency, server)
    tps = 1.0 / t1
    ceiling = hw.bandwidth_bytes / one
    return DecodeEstimate(
        bytes_per_token=one, ceiling_tps=ceiling, tps=tps, tps_low=tps * k.band_low,
        tps_high=min(tps * k.band_high, ceiling), concurrency=concurrency, per_stream_tps=1.0 / tn,
        aggregate_tps=concurrency / tn, compute_bound=bound,
    )


# Chosen by leave-one-machine-out prefill error over the 515 rows of that step (before the catalog CPUs'):
# 16 / 32 / 64 columns -> 34.6 / 33.5 / 33.6%.
MOE_MIN_COLUMNS = 32


def prefill_flops(spec: ModelSpec, work: WorkProfile, mean_depth: float) -> dict[str, float]:
    """FLOPs of one prompt token by kind: float matmuls, quantized matmuls, routed experts, attention.

    The output head is left out: llama.cpp computes logits for a prompt's last token only (llama-bench's
    ppN and a server's prompt alike), so over a prompt of hundreds of tokens it costs next to nothing,
    where per token it is 5-20% of the weights of models with large vocabularies (Gemma's 262k)."""
    dense = exp = flt = 0.0
    used = (spec.n_experts_used / spec.n_experts) if spec.n_experts else 0.0
    # An expert's product over the ubatch's tokens routed to it costs at least MOE_MIN_COLUMNS columns'
    # work (its matrix-core tiles run part-empty below that): 512 x k / E tokens per expert is 16 for
    # gpt-oss-120b (4 of 128), 10 for Qwen3-Next (10 of 512), 64 for gpt-oss-20b (4 of 32).
    per_expert = DEFAULT_UBATCH * used
    pad = max(1.0, MOE_MIN_COLUMNS / per_expert) if per_expert else 1.0
    for ty, w in work.types.items():
        if kernel_class(ty) == "float":
            flt += w.dense_elems - w.head_elems
        else:
            dense += w.dense_elems - w.head_elems
        exp += w.expert_elems * used * pad
    return {"float": 2.0 * flt, "quant": 2.0 * dense, "moe": 2.0 * exp, "attn": attention_flops(spec, int(mean_depth))}


def prefill_seconds_per_token(spec: ModelSpec, work: WorkProfile, hw, k, mean_depth: float) -> float | None:
    """Seconds per prompt token at ``mean_depth`` (None without a matmul peak: :func:`matmul_peak`)."""
    peak = matmul_peak(hw)
    if not peak:
        return None
    f = prefill_flops(spec, work, mean_depth)
    t = sum(f[kind] / k.prefill[kind] for kind in f) / peak
    return t + work.nodes * k.node_s / DEFAULT_UBATCH


def prefill_tps(spec: ModelSpec, work: WorkProfile, hw, k, context: int) -> float | None:
    """Prompt tokens per second for a prompt of ``context`` tokens (None without a matmul peak)."""
    s = prefill_seconds_per_token(spec, work, hw, k, max(context, 1) / 2)  # mean depth: half the prompt
    return 1.0 / s if s else None


def log_ratio(measured: float, predicted: float) -> float:
    """ln(measured / predicted): the residual the bands are made of."""
    return math.log(measured / predicted)
