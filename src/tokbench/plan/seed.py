"""What the seed document (shared/seed, February 2026) claimed, and where the planner disagrees.

The claims are transcribed from its section 1.4 (Qwen3.5-397B-A17B on Apple Silicon) and 1.1-1.2
(the "M3 Ultra (192GB)" rows). Sizes there are decimal GB. :func:`disagreements` turns the planner's
own rows into short sentences naming each difference and its size.
"""

from __future__ import annotations

GB = 1e9
GiB = 2**30

SEED_MODEL = "qwen3.5-397b-a17b"
SEED_SIZES_GB = {"IQ2_XXS": 130, "IQ4_XS": 212, "Q4_K_M": 241, "Q8_0": 422}
SEED_KV_128K_GB = 3.9
SEED_STATE_MB = (22, 90)  # "a fixed ~22-90 MB recurrent state"
SEED_ACTIVE_Q4_GB = 8.5
SEED_CEILING_TPS = 96
SEED_SPEEDS = {("m3-ultra-80c:256", "IQ4_XS"): (50, 70), ("m3-ultra-80c:512", "Q4_K_M"): (60, 75),
               ("m3-ultra-80c:512", "Q8_0"): (30, 40)}
# The seed's fit column: (hardware, quant) -> its words.
SEED_FITS = {("m3-ultra-80c:256", "IQ2_XXS"): "Yes", ("m3-ultra-80c:256", "IQ4_XS"): "Yes (~40 GB free)",
             ("m3-ultra-80c:256", "Q4_K_M"): "Tight (~11 GB free)", ("m3-ultra-80c:256", "Q8_0"): "No",
             ("m3-ultra-80c:512", "IQ2_XXS"): "Yes", ("m3-ultra-80c:512", "IQ4_XS"): "Yes",
             ("m3-ultra-80c:512", "Q4_K_M"): "Yes", ("m3-ultra-80c:512", "Q8_0"): "Barely"}


def _pct(ours: float, theirs: float) -> str:
    return f"{(ours / theirs - 1) * 100:+.0f}%"


def _size_lines(rows: list[dict]) -> list[str]:
    out = []
    for q, seed_gb in SEED_SIZES_GB.items():
        r = next((r for r in rows if r["quant"] == q), None)
        if r and abs(r["weights_bytes"] / GB / seed_gb - 1) > 0.03:
            out.append(f"{q} size: seed ~{seed_gb} GB (a published file, perhaps a custom mixture), llama.cpp's own "
                       f"{q} types give {r['weights_bytes'] / GB:.1f} GB ({_pct(r['weights_bytes'] / GB, seed_gb)})")
    return out


def _fit_lines(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        seed = SEED_FITS.get((r.get("hardware"), r["quant"]))
        if seed is None or r.get("fits") is None or r["fits"] == (seed != "No"):
            continue
        verdict = f"{r['free_bytes'] / GiB:.1f} GiB free" if r["fits"] else f"short by {-r['free_bytes'] / GiB:.1f} GiB"
        out.append(f"{r['quant']} on {r['hardware']}: seed says '{seed}' against the whole memory; the GPU may use "
                   f"{r['usable_bytes'] / GiB:.0f} GiB ({r['usable_basis']}), so: {verdict}")
    return out


def _speed_lines(rows: list[dict], short_depth: dict) -> list[str]:
    out = []
    for (hw, q), (lo, hi) in SEED_SPEEDS.items():
        r = next((r for r in rows if r.get("hardware") == hw and r["quant"] == q), None)
        if r is None or r.get("decode_tps") is None:
            continue
        s = short_depth.get((hw, q))
        short = f"; {s['decode_tps']:.0f} ({s['decode_tps_low']:.0f}-{s['decode_tps_high']:.0f}) at 4K depth" if s else ""
        out.append(f"{hw} {q}: seed ~{lo}-{hi} tok/s 'optimized'; calibrated estimate {r['decode_tps']:.0f} "
                   f"({r['decode_tps_low']:.0f}-{r['decode_tps_high']:.0f}) at {r['context']} tokens depth{short}, "
                   f"ceiling {r['decode_tps_ceiling']:.0f}")
    return out


def disagreements(spec, rows: list[dict], short_depth: dict | None = None) -> list[str]:
    """Sentences on where the planner's numbers for the seed's model differ from the seed's.

    ``rows`` are ``PlanRow.to_dict()`` rows for ``spec``; ``short_depth`` maps (hardware, quant) to a
    row at a 4K depth, for comparison with the seed's short-context speeds.
    """
    from tokbench.plan.kv import state_bytes_per_sequence

    out: list[str] = []
    hardware = {r.get("hardware") or "" for r in rows}
    if any(h.startswith("m3-ultra") for h in hardware) or spec.name == SEED_MODEL:
        out.append("The seed's 'M3 Ultra (192GB)' is not a shipped configuration: the M3 Ultra Mac Studio comes with "
                   "96, 256 or 512 GB (192 GB was the M2 Ultra's maximum).")
    if spec.name != SEED_MODEL:
        return out
    state = state_bytes_per_sequence(spec)
    lo, hi = SEED_STATE_MB
    out.append(f"Recurrent state: seed says a fixed ~{lo}-{hi} MB; llama.cpp keeps {state / 2**20:.1f} MiB "
               f"({state / 1e6:.0f} MB, F32) per sequence, {state / 1e6 / hi:.1f}-{state / 1e6 / lo:.1f}x the seed's range, "
               "and one such state per concurrent sequence.")
    kv128 = next((r for r in rows if r["context"] == 131072), None)
    if kv128:
        ours = (kv128["kv_bytes"] + kv128["state_bytes"]) / GB
        out.append(f"KV at 128K: seed ~{SEED_KV_128K_GB} GB; exact f16 KV {kv128['kv_bytes'] / GB:.2f} GB + state "
                   f"{kv128['state_bytes'] / GB:.2f} GB = {ours:.2f} GB ({_pct(ours, SEED_KV_128K_GB)}): close.")
    q4 = next((r for r in rows if r["quant"] == "Q4_K_M"), None)
    if q4:
        act = q4["active_bytes_per_token"] / GB
        out.append(f"Active weights per token at Q4_K_M: seed ~{SEED_ACTIVE_Q4_GB} GB (17B x 4 bits); with llama.cpp's "
                   f"mixture (Q6_K output head, F32 router, Q6_K attn_v/ffn_down layers) it is {act:.1f} GB, so the "
                   f"819 GB/s ceiling is {819 / act:.0f} tok/s at short context, not ~{SEED_CEILING_TPS}.")
    out += _size_lines(rows) + _fit_lines(rows) + _speed_lines(rows, short_depth or {})
    return out
