"""Bandwidth achieved beside every decode figure, as gpt-fast prints it ("Bandwidth achieved: X GB/s").

A decode step streams the model's active weights and every sequence's KV cache from memory once, so
the memory traffic a measured rate implies is ``bytes per step x steps per second``; divided by the
machine's nominal bandwidth it says how close the run came to the physical ceiling. The bytes are the
planner's exact count (tokbench.plan.speed.step_bytes: per-tensor types, the experts ``concurrency``
sequences touch, KV at the mean depth of the decode), so this is a measurement (the rate) times a
computed quantity (the bytes), and is labelled so.
"""

from __future__ import annotations

from typing import Any

SOURCE = ("bandwidth achieved = measured decode steps/s x bytes one step reads (tokbench.plan.speed.step_bytes: "
          "active weights + KV at the mean decode depth); % of the hardware's nominal bandwidth")


def step_bytes_of(spec, quant: str | None, depth: int, concurrency: int = 1, kv_type: str = "f16") -> float | None:
    """Bytes one decode step of ``concurrency`` sequences at ``depth`` reads, or None when the planner
    cannot size this model x quant."""
    if spec is None:
        return None
    try:
        from tokbench.plan import _weights
        from tokbench.plan.speed import step_bytes

        _, work = _weights(spec, quant)
        return step_bytes(spec, work, max(int(depth), 0), kv_type, max(int(concurrency), 1)).total
    except Exception:  # noqa: BLE001 - a quant or layout the planner cannot size: no figure, never a guess
        return None


def achieved(per_stream_tps: float | None, step_bytes: float | None, peak_gbs: float | None) -> dict[str, Any] | None:
    """``{"gbs", "pct", "peak_gbs", "gb_per_step"}`` for a measured per-stream decode rate (each stream
    gets one token per step, so steps/s = per-stream tok/s); ``pct`` None without a known peak."""
    if not per_stream_tps or not step_bytes:
        return None
    gbs = per_stream_tps * step_bytes / 1e9
    pct = gbs / peak_gbs * 100 if peak_gbs else None
    return {"gbs": gbs, "pct": pct, "peak_gbs": peak_gbs, "gb_per_step": step_bytes / 1e9}


def text(bw: dict | None) -> str:
    """``41.3 GB/s, 62%`` (or ``41.3 GB/s`` without a peak); "" without a figure."""
    if not bw:
        return ""
    return f"{bw['gbs']:,.1f} GB/s" + (f", {bw['pct']:.0f}%" if bw.get("pct") is not None else "")


def mean_decode_depth(row: dict) -> int:
    """Mean context depth during a point's decode: its depth plus half the tokens generated."""
    depth = row.get("context_depth") or 0
    ok = row.get("ok") or 0
    gen = round(row["output_tokens"] / ok) if ok and row.get("output_tokens") else 0
    return int(depth + gen // 2)


def attach(rows: list[dict], spec, quant: str | None, peak_gbs: float | None) -> None:
    """Add ``bandwidth`` (see :func:`achieved`) to every result row with a measured decode rate."""
    sizes: dict[tuple[int, int], float | None] = {}
    for row in rows:
        tps = (row.get("decode_tps_per_stream") or {}).get("p50")
        if not tps:
            continue
        key = (mean_decode_depth(row), row.get("concurrency") or 1)
        if key not in sizes:
            sizes[key] = step_bytes_of(spec, quant, *key)
        bw = achieved(tps, sizes[key], peak_gbs)
        if bw:
            row["bandwidth"] = bw
