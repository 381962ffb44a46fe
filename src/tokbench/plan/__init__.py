"""The capacity planner: pure functions of (model, quant, hardware, engine, context, concurrency).

``estimate()`` is the one call other parts use (bench runner, ``tokbench validate``); it returns a
:class:`PlanRow` whose ``to_dict()`` has the keys of ``tokbench plan --json`` rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tokbench.spec.model import ModelSpec


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
    per_stream_decode_tps: float | None = None
    aggregate_decode_tps: float | None = None
    compute_bound: bool | None = None
    prefill_tps: float | None = None
    calibration: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready) with every field."""
        return asdict(self)


def frozen(spec: ModelSpec) -> ModelSpec:
    """``spec`` with its tensor list built once (catalog specs otherwise rebuild it on every call)."""
    if spec.tensor_list is not None:
        return spec
    from dataclasses import replace

    return replace(spec, tensor_list=spec.tensors())


# Weight bytes of the last specs seen, by (id(spec), quant): a plan run asks for the same model x quant
# once per machine and depth. The spec is kept in the value so its id cannot be reused while cached.
_WB_CACHE: dict[tuple[int, str | None], tuple[ModelSpec, object]] = {}


def _weights(spec: ModelSpec, quant: str | None):
    from tokbench.plan.memory import weight_bytes

    hit = _WB_CACHE.get((id(spec), quant))
    if hit is not None and hit[0] is spec:
        return hit[1]
    if len(_WB_CACHE) > 256:
        _WB_CACHE.clear()
    wb = weight_bytes(spec, quant)
    _WB_CACHE[(id(spec), quant)] = (spec, wb)
    return wb


def _resolve(spec, hardware, engine, kv_type):
    from tokbench.catalog.hardware import Hardware, get_hardware
    from tokbench.plan.kv import parse_kv_type
    from tokbench.plan.memory import parse_engine

    if isinstance(spec, str):
        from tokbench.spec import load_spec

        spec = load_spec(spec)
    spec = frozen(spec)
    hw = get_hardware(hardware) if isinstance(hardware, str) else hardware
    if hw is not None and not isinstance(hw, Hardware):
        raise TypeError(f"hardware must be a Hardware, an id or None, not {type(hardware).__name__}")
    return spec, hw, parse_engine(engine), parse_kv_type(kv_type)


def estimate(spec: ModelSpec | str, quant: str | None, hardware=None, engine: str = "llama.cpp",
             context: int = 4096, concurrency: int = 1, kv_type: str = "f16", *, depth: int | None = None,
             other_bytes: int = 0, gpu_limit_gb: float | None = None, gpu_fraction: float | None = None,
             os_reserve_gb: float | None = None) -> PlanRow:
    """Memory, fit and speed of ``spec`` with ``quant`` on ``hardware`` (a Hardware, an id, or None).

    ``context`` sizes the KV cache per sequence; decode speed is estimated at ``depth`` tokens
    (default: ``context``, the slowest point of a full conversation). ``other_bytes`` is memory taken
    by companion models. Unknown names raise :class:`tokbench.errors.UserError`.
    """
    from tokbench.plan.fit import memory_plan, verdict
    from tokbench.plan.memory import canonical_quant, usable_memory
    from tokbench.plan.speed import step_bytes

    spec, hw, engine, kv_type = _resolve(spec, hardware, engine, kv_type)
    quant_name = canonical_quant(spec, quant)
    wb = _weights(spec, quant)
    device_kind = hw.kind if hw is not None else "apple"
    mp = memory_plan(spec, quant, engine, context, concurrency, kv_type, device_kind, wb=wb)
    depth = context if depth is None else depth
    one = step_bytes(spec, wb, depth, kv_type, 1)
    row = dict(model=spec.name, quant=quant_name, hardware=None, engine=engine, context=context,
               concurrency=concurrency, kv_type=kv_type, weights_bytes=mp.weights, kv_bytes=mp.kv,
               state_bytes=mp.state, overhead_bytes=mp.overhead, total_bytes=mp.total,
               active_bytes_per_token=one.weights, bytes_per_token=one.total, other_bytes=other_bytes)
    if hw is None:
        return PlanRow(**row)
    from tokbench.catalog.calibration import get_calibration
    from tokbench.plan.speed import decode, prefill_tps

    usable = usable_memory(hw, engine, gpu_limit_gb, gpu_fraction, os_reserve_gb)
    v = verdict(mp.total + other_bytes, usable)
    cal = get_calibration(hw, engine)
    d = decode(spec, wb, hw, cal, depth, kv_type, concurrency)
    notes = []
    if engine == "mlx" and hw.kind != "apple":
        notes.append("MLX runs on Apple silicon (CPU elsewhere); estimate uses this hardware's figures")
    if v.tight:
        notes.append("tight: under 5% of usable memory left")
    row.update(hardware=hw.label, memory_bytes=usable.memory_bytes, usable_bytes=usable.usable_bytes,
               usable_basis=usable.basis, fits=v.fits, free_bytes=v.free_bytes,
               decode_tps_ceiling=d.ceiling_tps, decode_tps=d.tps, decode_tps_low=d.tps_low,
               decode_tps_high=d.tps_high, per_stream_decode_tps=d.per_stream_tps,
               aggregate_decode_tps=d.aggregate_tps, compute_bound=d.compute_bound,
               prefill_tps=prefill_tps(spec, hw, cal, context, wb),
               calibration={"family": cal.family, "engine": cal.engine, "eta": cal.eta, "t0_ms": cal.t0_s * 1000,
                            "band": [cal.band_low, cal.band_high], "prefill_eff": cal.prefill_eff,
                            "fitted": cal.fitted, "basis": cal.basis},
               notes=notes)
    return PlanRow(**row)


__all__ = ["PlanRow", "estimate"]
