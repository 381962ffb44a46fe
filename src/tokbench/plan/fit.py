"""Fit verdict: does a model (plus companions) fit a machine's usable memory, and what is left."""

from __future__ import annotations

from dataclasses import dataclass

from tokbench.errors import UserError
from tokbench.plan.kv import kv_cache
from tokbench.plan.memory import Usable, overhead_bytes, usable_memory, weight_bytes
from tokbench.modelspec.model import ModelSpec


@dataclass(frozen=True)
class MemoryPlan:
    """Memory of one model x quant at a context and concurrency (bytes)."""

    weights: int
    kv: int
    state: int
    overhead: int
    cells: dict

    @property
    def total(self) -> int:
        """Everything the model needs resident."""
        return self.weights + self.kv + self.state + self.overhead


def memory_plan(spec: ModelSpec, quant: str | None, engine: str = "llama.cpp", context: int = 4096,
                concurrency: int = 1, kv_type: str = "f16", device_kind: str = "apple", wb=None) -> MemoryPlan:
    """Weights (exact), KV + state (llama.cpp's allocation) and overhead (estimate) for one model."""
    wb = wb or weight_bytes(spec, quant)
    cache = kv_cache(spec, context, concurrency, kv_type)
    return MemoryPlan(weights=wb.total, kv=cache.kv_bytes, state=cache.state_bytes,
                      overhead=overhead_bytes(spec, engine, concurrency, device_kind), cells=cache.cells)


@dataclass(frozen=True)
class Verdict:
    """Fit of a total against a machine's usable memory."""

    usable: Usable
    needed: int  # this model plus any companions
    fits: bool
    free_bytes: int  # usable - needed (negative when it does not fit)
    tight: bool  # fits with less than 5% of usable memory to spare


def verdict(needed: int, usable: Usable) -> Verdict:
    """Compare ``needed`` bytes with ``usable``."""
    free = usable.usable_bytes - needed
    return Verdict(usable=usable, needed=needed, fits=free >= 0, free_bytes=free,
                   tight=0 <= free < 0.05 * usable.usable_bytes)


def parse_with(text: str, default_context: int) -> tuple[str, str, int]:
    """``MODEL:QUANT[:CTX]`` -> (model, quant, context); UserError when malformed."""
    from tokbench.plan.context import parse_context

    parts = text.rsplit(":", 2) if text.count(":") >= 2 else text.split(":")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise UserError(f"--with '{text}': use MODEL:QUANT[:CTX], e.g. qwen3-30b-a3b:Q4_K_M:32k")
    if len(parts) == 3:
        return parts[0], parts[1], parse_context(parts[2])
    return parts[0], parts[1], default_context


def companion_bytes(items: list[tuple[str, str, int]], engine: str, kv_type: str, device_kind: str) -> list[dict]:
    """Memory of each ``--with`` model (each its own process: own overhead), as dicts for output."""
    from tokbench.modelspec import load_spec

    out = []
    for model, quant, ctx in items:
        spec = load_spec(model)
        mp = memory_plan(spec, quant, engine, ctx, 1, kv_type, device_kind)
        out.append({"model": model, "quant": quant, "context": ctx, "weights_bytes": mp.weights,
                    "kv_bytes": mp.kv, "state_bytes": mp.state, "overhead_bytes": mp.overhead,
                    "total_bytes": mp.total})
    return out


__all__ = ["MemoryPlan", "Verdict", "memory_plan", "verdict", "parse_with", "companion_bytes", "usable_memory"]
