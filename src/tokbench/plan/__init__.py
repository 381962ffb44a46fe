"""The capacity planner: pure functions of (model, quant, hardware, engine, context, concurrency).

``estimate()`` is the one call other parts use (bench runner, ``tokbench validate``); it returns a
:class:`PlanRow` whose ``to_dict()`` has the keys of ``tokbench plan --json`` rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tokbench.modelspec.model import ModelSpec


@dataclass(frozen=True)
class PlanRow:
    """One model x quant x hardware estimate (bytes, tok/s). Hardware fields are None without hardware."""

    model: str
    quant: str
    hardware: str | None
    engine: str
    context: int
    concurrency: int
    kv_type: str
    weights_bytes: int
    kv_bytes: int
    state_bytes: int
    overhead_bytes: int
    total_bytes: int
    active_bytes_per_token: float
    bytes_per_token: float
    memory_bytes: int | None = None
    usable_bytes: int | None = None
    usable_basis: str | None = None
    other_bytes: int = 0  # companion models (--with) sharing the machine
    fits: bool | None = None
    free_bytes: int | None = None
    decode_tps_ceiling: float | None = None
    decode_tps: float | None = None
    decode_tps_low: float | None = None
    decode_tps_high: float | None = None
    per_stream_decode_tps: float | None = None  # tokens / (last - first) per request; see estimate()
    step_decode_tps: float | None = None  # 1 / one decode step of `concurrency` sequences (the ITL rate)
    server: bool = False  # engine runs behind an HTTP server (llama.cpp-server, ollama): per-token CPU cost
    aggregate_decode_tps: float | None = None
    compute_bound: bool | None = None
    prefill_tps: float | None = None
    prefill_tps_low: float | None = None  # the band held-out prefill rows at this machine's level fell in
    prefill_tps_high: float | None = None
    calibration: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready) with every field."""
        return asdict(self)


# Weight bytes of the last specs seen, by (id(spec), quant): a plan run asks for the same model x quant
# once per machine and depth. The spec is kept in the value so its id cannot be reused while cached.
_WB_CACHE: dict[tuple[int, str | None], tuple[ModelSpec, object]] = {}


def _weights(spec: ModelSpec, quant: str | None):
    """(WeightBytes, WorkProfile) of ``spec`` x ``quant``, memoized per spec object."""
    from tokbench.plan.memory import _typed_bytes, weight_bytes
    from tokbench.plan.work import work_profile

    hit = _WB_CACHE.get((id(spec), quant))
    if hit is not None and hit[0] is spec:
        return hit[1]
    if len(_WB_CACHE) > 256:
        _WB_CACHE.clear()
    from tokbench.plan.weight_sums import lookup

    pair = lookup(spec, quant)  # catalog models at the default presets: committed sums, tested equal
    if pair is None:
        sizes = _typed_bytes(spec, quant)  # llama.cpp's per-tensor type choice: the costly part, done once
        pair = (weight_bytes(spec, quant, sizes), work_profile(spec, quant, sizes))
    _WB_CACHE[(id(spec), quant)] = (spec, pair)
    return pair


def _resolve(spec, hardware, engine, kv_type):
    from tokbench.catalog.hardware import Hardware, get_hardware
    from tokbench.plan.kv import parse_kv_type
    from tokbench.plan.memory import parse_engine

    if isinstance(spec, str):
        from tokbench.modelspec import load_spec

        spec = load_spec(spec)
    hw = get_hardware(hardware) if isinstance(hardware, str) else hardware
    if hw is not None and not isinstance(hw, Hardware):
        raise TypeError(f"hardware must be a Hardware, an id or None, not {type(hardware).__name__}")
    return spec, hw, parse_engine(engine), parse_kv_type(kv_type)


def estimate(spec: ModelSpec | str, quant: str | None, hardware=None, engine: str = "llama.cpp",
             context: int = 4096, concurrency: int = 1, kv_type: str = "f16", *, depth: int | None = None,
             other_bytes: int = 0, gpu_limit_gb: float | None = None, gpu_fraction: float | None = None,
             os_reserve_gb: float | None = None, prompt_tokens: int | None = None, gen_tokens: int = 128,
             requests: int | None = None) -> PlanRow:
    """Memory, fit and speed of ``spec`` with ``quant`` on ``hardware`` (a Hardware, an id, or None).

    ``context`` sizes the KV cache per sequence; decode speed is estimated at ``depth`` tokens
    (default: ``context``, the slowest point of a full conversation). ``other_bytes`` is memory taken
    by companion models. Unknown names raise :class:`tokbench.errors.UserError`.

    Engines: ``llama.cpp`` is llama.cpp in process (llama-bench, libllama); ``llama.cpp-server`` (and
    ``ollama``) add the server's per-token sampling and streaming work per sequence. ``step_decode_tps``
    is one stream's rate between tokens with ``concurrency`` sequences decoding. With
    ``prompt_tokens`` (a server at concurrency > 1), ``per_stream_decode_tps`` is what a closed-loop
    sweep of ``requests`` (default 2 x concurrency) requests of ``prompt_tokens`` + ``gen_tokens``
    measures: other requests' prefill and slot reuse interleave (:mod:`tokbench.plan.serving`);
    without it, the step rate.
    """
    from tokbench.plan.fit import memory_plan, verdict
    from tokbench.plan.memory import canonical_quant, usable_memory
    from tokbench.plan.speed import step_bytes

    spec, hw, engine, kv_type = _resolve(spec, hardware, engine, kv_type)
    quant_name = canonical_quant(spec, quant)
    wb, work = _weights(spec, quant)
    device_kind = hw.kind if hw is not None else "apple"
    mp = memory_plan(spec, quant, engine, context, concurrency, kv_type, device_kind, wb=wb)
    depth = context if depth is None else depth
    one = step_bytes(spec, work, depth, kv_type, 1)
    row = dict(model=spec.name, quant=quant_name, hardware=None, engine=engine, context=context,
               concurrency=concurrency, kv_type=kv_type, weights_bytes=mp.weights, kv_bytes=mp.kv,
               state_bytes=mp.state, overhead_bytes=mp.overhead, total_bytes=mp.total,
               active_bytes_per_token=one.weights, bytes_per_token=one.total, other_bytes=other_bytes)
    if hw is None:
        return PlanRow(**row)
    from tokbench.catalog.calibration import get_calibration
    from tokbench.plan.speed import decode, server_seconds

    usable = usable_memory(hw, engine, gpu_limit_gb, gpu_fraction, os_reserve_gb)
    v = verdict(mp.total + other_bytes, usable)
    from tokbench.plan.host import for_host

    cal = for_host(get_calibration(hw, engine), hw, engine)
    from tokbench.catalog.calibration import is_server_engine

    server = is_server_engine(engine)
    cal, novelty = _widen_for_novelty(spec, work, cal)
    d = decode(spec, work, hw, cal, depth, kv_type, concurrency, server)
    per_stream = d.per_stream_tps
    if prompt_tokens is not None and concurrency > 1:
        per_stream = _sweep(spec, work, hw, cal, depth, kv_type, concurrency, server, prompt_tokens, gen_tokens,
                            requests or 2 * concurrency)
    notes = []
    if engine == "llama.cpp":
        notes.append("llama.cpp in process (llama-bench); behind llama-server, ollama or LM Studio use engine "
                     "llama.cpp-server (per-token server cost)")
    elif server:
        notes.append(f"{engine}: llama.cpp behind a server; per sequence per token "
                     f"{1e3 * server_seconds(spec, cal):.2f} ms of the server's CPU work (fitted on llama-server "
                     "rows; host CPU time, the same whatever the accelerator)")
    notes.append(f"speed: {cal.level_text} ({cal.basis})")
    if concurrency > 1:
        notes.append(f"{hw.label}, {concurrency} sequences per decode step: batched-kernel terms {cal.batched_basis}")
    if prompt_tokens is not None and concurrency > 1:
        notes.append(f"{hw.label}, per stream at {concurrency}: a closed-loop sweep of {requests or 2 * concurrency} "
                     f"requests ({prompt_tokens}-token prompts, {gen_tokens} generated) as tokbench bench runs one, "
                     f"{per_stream:.1f} tok/s; between tokens of a full step {d.per_stream_tps:.1f}")
    notes += novelty
    if not work.nodes_counted:
        notes.append(f"{spec.arch}: graph nodes per layer not counted for this architecture; typical counts used")
    if v.tight:
        notes.append("tight: under 5% of usable memory left")
    row.update(hardware=hw.label, memory_bytes=usable.memory_bytes, usable_bytes=usable.usable_bytes,
               usable_basis=usable.basis, fits=v.fits, free_bytes=v.free_bytes,
               decode_tps_ceiling=d.ceiling_tps, decode_tps=d.tps, decode_tps_low=d.tps_low,
               decode_tps_high=d.tps_high, per_stream_decode_tps=per_stream, step_decode_tps=d.per_stream_tps, server=server,
               aggregate_decode_tps=d.aggregate_tps, compute_bound=d.compute_bound,
               **_prefill(spec, work, hw, cal, context),
               calibration=_calibration_dict(spec, work, hw, cal, depth, kv_type),
               notes=notes)
    return PlanRow(**row)


def _prefill(spec, work, hw, cal, context: int) -> dict[str, Any]:
    """Prompt tok/s for a prompt of ``context`` tokens with its band (None without a matmul peak)."""
    from tokbench.plan.speed import prefill_tps

    pp = prefill_tps(spec, work, hw, cal, context)
    if pp is None:
        return {"prefill_tps": None}
    lo, hi = cal.prefill_band
    return {"prefill_tps": pp, "prefill_tps_low": pp * lo, "prefill_tps_high": pp * hi}


def _widen_for_novelty(spec, work, cal):
    """(parameters with the band widened, notes) when the architecture family or a storage type has no
    measurements on this backend: the band then also spans held-out architectures' errors."""
    from dataclasses import replace

    from tokbench.catalog.calibration import bands_for, speed_params

    doc = speed_params()
    b = doc["backends"].get(cal.backend, {})
    notes = []
    new_arch = spec.arch not in b.get("fitted_archs", ())
    new_types = sorted(t for t in work.types if t not in b.get("fitted_types", ()) and t != "F32")
    if not (new_arch or new_types):
        return cal, notes
    bands = bands_for(doc, cal.backend)
    lo, hi = bands.get("arch_new", bands["extrapolated"])
    if new_arch:
        notes.append(f"{spec.arch}: no measurements of this architecture family on {cal.backend}: band widened")
    if new_types:
        lo, hi = min(lo, bands["extrapolated"][0]), max(hi, bands["extrapolated"][1])
        notes.append(f"{', '.join(new_types)}: storage type(s) never measured on {cal.backend}: "
                     "their kernel roof is their class's; band widened")
    return replace(cal, band_low=min(cal.band_low, lo), band_high=max(cal.band_high, hi)), notes


def _calibration_dict(spec, work, hw, cal, depth: int, kv_type: str) -> dict[str, Any]:
    """What the speed estimate rests on and how one token's time splits (JSON-ready)."""
    from tokbench.plan.speed import cache_resident, step_bytes, step_parts, stream_bandwidth

    st = step_parts(spec, work, hw, cal, depth, kv_type, 1)
    resident = cache_resident(hw, step_bytes(spec, work, depth, kv_type, 1).weights)
    return {"backend": cal.backend, "engine": cal.engine, "generation": cal.generation, "level": cal.level,
            "level_text": cal.level_text, "fitted": cal.fitted, "basis": cal.basis,
            "band": [cal.band_low, cal.band_high], "eta_mem": cal.eta_mem,
            "prefill_level": cal.prefill_level, "prefill_band": list(cal.prefill_band),
            # the bandwidth the weights are read at before eta_mem: the memory's, or on a CPU what its
            # threads' cores stream; resident: the weights fit in the last-level cache
            "stream_gbs": stream_bandwidth(hw, cal, resident) / cal.eta_mem / 1e9, "cache_resident": resident,
            "step_ms": {"weights": st.weights * 1e3, "kv": st.kv * 1e3, "nodes": st.nodes * 1e3},
            "weights_bound": "kernel throughput" if st.compute_bound else "memory bandwidth",
            "graph_nodes": work.nodes}


def _sweep(spec, work, hw, cal, depth, kv_type, n, server, prompt, gen, requests) -> float:
    """Per-stream decode tok/s of a closed-loop sweep (:func:`tokbench.plan.serving.sweep_per_stream`)."""
    from tokbench.plan.kv import kv_read_bytes
    from tokbench.plan.serving import IN_PROCESS_BATCH, N_BATCH, sweep_per_stream
    from tokbench.plan.speed import prefill_seconds_per_token, step_time

    pp = prefill_seconds_per_token(spec, work, hw, cal, prompt / 2) or 0.0
    # Slot reuse saves the old sequence (prompt + generated cells) to the host prompt cache first.
    stall = kv_read_bytes(spec, prompt + gen, kv_type) / cal.srv_save_bps if server and cal.srv_save_bps else 0.0
    # tokbench's in-process engine (engine "llama.cpp" in a sweep) batches 512 tokens, llama-server 2048:
    # prompts that fit one batch start together and stall no one's decode
    n_batch = IN_PROCESS_BATCH if cal.engine == "llama.cpp" else N_BATCH
    return sweep_per_stream(lambda k: step_time(spec, work, hw, cal, depth, kv_type, max(k, 1), server)[0],
                            pp, n, prompt, gen, requests, stall, n_batch=n_batch)


__all__ = ["PlanRow", "estimate"]
