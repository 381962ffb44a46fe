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


def recommend(hardware, min_tps: float, context: int, engine: str = "llama.cpp", concurrency: int = 1,
              kv_type: str = "f16", quants: tuple[str, ...] | None = None, other_bytes: int = 0,
              **usable) -> list[dict]:
    """Every catalog model x quant that fits ``hardware`` and decodes at >= ``min_tps`` at ``context``.

    Ranked by quality proxy: more parameters first, then more bits per weight, then speed. Returns
    ``PlanRow.to_dict()`` rows with ``n_params`` and ``bits_per_weight`` added.
    """
    from tokbench.catalog.models import model_ids
    from tokbench.plan import estimate, frozen
    from tokbench.spec import load_spec

    if min_tps <= 0:
        raise UserError(f"--min-tps must be positive, got {min_tps:g}")
    quants = quants or RECOMMEND_QUANTS["mlx" if engine == "mlx" else "llama.cpp"]
    out = []
    for model in model_ids():
        spec = frozen(load_spec(model))
        n_params = spec.n_params()
        for q in quants:
            row = estimate(spec, q, hardware, engine, context, concurrency, kv_type, other_bytes=other_bytes,
                           **usable).to_dict()
            if row["fits"] and row["decode_tps"] >= min_tps:
                row["n_params"] = n_params
                row["bits_per_weight"] = 8.0 * row["weights_bytes"] / n_params
                out.append(row)
    out.sort(key=lambda r: (-r["n_params"], -r["bits_per_weight"], -r["decode_tps"]))
    return out
