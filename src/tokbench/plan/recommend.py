"""Recommendations: which catalog model x quant options fit a machine and reach a decode target."""

from __future__ import annotations

from tokbench.errors import UserError

# Quants tried per engine when the user names none (the seed's spread, from 2 to 8 bits).
DEFAULT_QUANTS = {"llama.cpp": ("IQ2_XXS", "IQ4_XS", "Q4_K_M", "Q8_0"), "mlx": ("mlx-4bit", "mlx-8bit")}
RECOMMEND_QUANTS = {"llama.cpp": ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "IQ4_XS", "Q3_K_M", "IQ2_XXS"),
                    "mlx": ("mlx-8bit", "mlx-6bit", "mlx-4bit", "mlx-3bit")}


def default_quants(engine: str, is_gguf_file: bool = False) -> tuple[str, ...]:
    """Quants to plan when none are named (a GGUF file: its own types)."""
    if is_gguf_file:
        return ("native",)
    return DEFAULT_QUANTS["mlx" if engine == "mlx" else "llama.cpp"]


# Presets whose rules give some tensors fewer bits than the preset's default type (quant/llamacpp.py
# _rest_type: IQ3_XS turns attn_q/attn_k/ffn_gate/ffn_up into IQ3_XXS, IQ3_XXS turns attn_q/attn_k
# into IQ2_S). Every other rule keeps or raises the default, block fallbacks pick larger types, and
# tensors kept unquantized are F16/F32. tests/plan/test_plan_recommend.py checks the bound on the catalog.
_DOWNGRADE = {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}


def floor_bits(quant: str) -> float:
    """Fewest bits per weight any tensor can get under ``quant`` (so n_params x this / 8 <= weight bytes)."""
    from tokbench.quant.formats import ggml_type
    from tokbench.quant.presets import get_preset

    p = get_preset(quant)
    if p.is_mlx:
        return float(p.bits or 16)  # affine modes: packed bits plus scales; unquantized: 16-bit floats
    bits = ggml_type(p.default_type).bits_per_weight if p.default_type else 16.0
    if p.name in _DOWNGRADE:
        bits = min(bits, ggml_type(_DOWNGRADE[p.name]).bits_per_weight)
    return min(bits, 16.0)  # tensors the quantizer skips stay F16 (or F32)


def _bounds(spec, hw, engine: str, context: int, concurrency: int, kv_type: str, usable: dict):
    """Quant-independent parts of memory and step time: (fixed bytes, usable bytes, seconds per weight
    byte at best, fixed step seconds) for the cheap bounds that prune options before exact bytes."""
    from tokbench.catalog.calibration import get_calibration
    from tokbench.plan.kv import kv_cache
    from tokbench.plan.memory import overhead_bytes, usable_memory
    from tokbench.plan.speed import step_bytes
    from tokbench.plan.work import WorkProfile

    cache = kv_cache(spec, context, concurrency, kv_type)
    fixed = cache.kv_bytes + cache.state_bytes + overhead_bytes(spec, engine, concurrency, hw.kind)
    from tokbench.plan.speed import roof_rate, stream_bandwidth
    from tokbench.plan.work import graph_nodes

    from tokbench.plan.host import for_host

    cal = for_host(get_calibration(hw, engine), hw, engine)
    sb = step_bytes(spec, WorkProfile(), context, kv_type, 1)
    # Lower bound of a step (each term is at most what the model charges): the KV/state reads at the
    # memory roof, the graph's non-matrix nodes, and the weights at the slower of their memory roof
    # (cannot_qualify) and the fastest kernel class's throughput roof (times the active weights).
    nodes, mm, _ = graph_nodes(spec)
    t_fixed = (sb.kv + sb.state) / (cal.eta_kv * stream_bandwidth(hw, cal)) + (nodes - mm) * cal.node_s
    s_per_weight = 1 / (max(cal.rho(t) for t in ("F16", "Q8_0", "Q4_K", "IQ4_XS", "MLX")) * roof_rate(hw))
    return (fixed, usable_memory(hw, engine, **usable).usable_bytes, 1 / stream_bandwidth(hw, cal), t_fixed,
            s_per_weight)


def cannot_qualify(n_params: int, n_active: int, quant: str, bounds, min_tps: float, other_bytes: int) -> bool:
    """True when even the fewest bits ``quant`` allows cannot fit or reach ``min_tps`` (a proof, not a guess)."""
    fixed, usable, s_per_byte, t_fixed, s_per_weight = bounds
    bits = floor_bits(quant)
    if n_params * bits / 8 + fixed + other_bytes > usable:
        return True
    return 1.0 / (max(n_active * bits / 8 * s_per_byte, n_active * s_per_weight) + t_fixed) < min_tps


def recommend(hardware, min_tps: float, context: int, engine: str = "llama.cpp", concurrency: int = 1,
              kv_type: str = "f16", quants: tuple[str, ...] | None = None, other_bytes: int = 0,
              **usable) -> list[dict]:
    """Every catalog model x quant that fits ``hardware`` and decodes at >= ``min_tps`` at ``context``.

    Ranked by quality proxy: more parameters first, then more bits per weight, then speed. Returns
    ``PlanRow.to_dict()`` rows with ``n_params`` and ``bits_per_weight`` added.
    """
    from tokbench.catalog.hardware import get_hardware
    from tokbench.catalog.models import model_ids
    from tokbench.plan import estimate
    from tokbench.plan.speed import active_params
    from tokbench.plan.weight_sums import counts
    from tokbench.modelspec import load_spec

    if min_tps <= 0:
        raise UserError(f"--min-tps must be positive, got {min_tps:g}")
    quants = quants or RECOMMEND_QUANTS["mlx" if engine == "mlx" else "llama.cpp"]
    hw = get_hardware(hardware) if isinstance(hardware, str) else hardware
    out = []
    for model in model_ids():
        spec = load_spec(model)
        # The committed sums (tokbench.plan.weight_sums) spare building the tensor list of every model.
        n_params, n_active = counts(spec) or (spec.n_params(), active_params(spec))
        # Exact per-tensor types cost ~10 ms per option without committed sums (a --quant outside the
        # defaults, a changed catalog entry); skip options a cheap lower bound rules out.
        bounds = _bounds(spec, hw, engine, context, concurrency, kv_type, usable)
        for q in quants:
            if cannot_qualify(n_params, n_active, q, bounds, min_tps, other_bytes):
                continue
            row = estimate(spec, q, hw, engine, context, concurrency, kv_type, other_bytes=other_bytes,
                           **usable).to_dict()
            if row["fits"] and row["decode_tps"] >= min_tps:
                row["n_params"] = n_params
                row["bits_per_weight"] = 8.0 * row["weights_bytes"] / n_params
                out.append(row)
    out.sort(key=lambda r: (-r["n_params"], -r["bits_per_weight"], -r["decode_tps"]))
    return out
