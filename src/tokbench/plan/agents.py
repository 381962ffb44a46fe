"""The planner's view of an agent mix: a main model and sub-agent models on one machine.

Two questions, both pure functions of specs, quants, hardware and the workload's shape:

- *Do they fit together?* Each server process holds its model's weights, the KV cache and
  recurrent state of every sequence it serves at its context, and its own runtime overhead
  (:func:`tokbench.plan.fit.memory_plan`); roles served by one process share its weights and
  batch their sequences. The sum is checked against the machine's usable memory
  (:func:`tokbench.plan.memory.usable_memory`), as ``tokbench plan --with`` does.
- *How do concurrent decodes share the memory bus?* Decode is memory-bound: a step streams the
  model's active weights plus each sequence's KV. Separate processes on one GPU (or one set of
  memory channels) take turns: CUDA and Metal time-slice kernels of different processes, and a
  saturated bus serves one stream of bytes at a time either way. So while every model decodes, a
  *round* in which each process makes one step lasts the sum of their step times, and each role
  gets one token per stream per round. A process serving several roles makes one batched step
  for all of them (one weight read, KV per sequence). Step times are the calibrated ones of
  :func:`tokbench.plan.speed.step_time`, so the estimate alone matches ``tokbench plan``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokbench.modelspec.model import ModelSpec

BANDWIDTH_BASIS = ("one memory bus: processes take turns, so a round in which every decoding process makes one "
                   "step lasts the sum of their calibrated step times; a process serving several roles makes "
                   "one batched step (weights once, KV per sequence)")


@dataclass(frozen=True)
class AgentModel:
    """One role of the mix: which model serves it, at what context and how many sequences at once."""

    role: str  # "main" / "sub"
    spec: ModelSpec | str
    quant: str | None
    engine: str = "llama.cpp"
    context: int = 4096  # tokens per sequence (KV cache sizing)
    concurrency: int = 1  # sequences of this role decoding at once
    depth: int | None = None  # context depth for decode speed (default: context)
    server: str | None = None  # roles naming the same server share one process (default: own process)


def _server_key(m: AgentModel) -> str:
    return m.server or m.role


def _groups(models: list[AgentModel]) -> dict[str, list[AgentModel]]:
    out: dict[str, list[AgentModel]] = {}
    for m in models:
        out.setdefault(_server_key(m), []).append(m)
    return out


def _mean_depth(roles: list[AgentModel]) -> int:
    """Sequence-weighted mean depth: KV bytes read per step are linear in depth, so this is exact for them."""
    n = sum(max(1, r.concurrency) for r in roles)
    return round(sum(max(1, r.concurrency) * (r.depth if r.depth is not None else r.context) for r in roles) / n)


def plan_agents(models: list[AgentModel], hardware=None, kv_type: str = "f16", gpu_limit_gb: float | None = None,
                gpu_fraction: float | None = None, os_reserve_gb: float | None = None) -> dict:
    """Memory of every server, the joint fit verdict and per-role decode tok/s alone and under load.

    ``hardware`` is a catalog Hardware, an id, or None (memory only). Returns a JSON-ready dict:
    ``servers`` (bytes per process), ``total_bytes``, ``fits`` ..., ``roles`` {role: {decode_tps_alone,
    decode_tps_load, ...}} and ``bandwidth_basis``.
    """
    from tokbench.plan import _resolve, _weights
    from tokbench.plan.fit import memory_plan, verdict
    from tokbench.plan.memory import canonical_quant, usable_memory

    if not models:
        from tokbench.errors import UserError

        raise UserError("agents plan: no models")
    servers, resolved = [], {}
    hw = None
    for key, roles in _groups(models).items():
        first = roles[0]
        spec, hw, engine, kv = _resolve(first.spec, hardware, first.engine, kv_type)
        wb, work = _weights(spec, first.quant)
        context = max(r.context for r in roles)
        conc = sum(max(1, r.concurrency) for r in roles)
        mp = memory_plan(spec, first.quant, engine, context, conc, kv, hw.kind if hw is not None else "apple", wb=wb)
        resolved[key] = (spec, work, engine, kv, roles)
        servers.append({"server": key, "roles": [r.role for r in roles], "model": spec.name,
                        "quant": canonical_quant(spec, first.quant), "engine": engine, "context": context,
                        "concurrency": conc, "weights_bytes": mp.weights, "kv_bytes": mp.kv,
                        "state_bytes": mp.state, "overhead_bytes": mp.overhead, "total_bytes": mp.total})
    total = sum(s["total_bytes"] for s in servers)
    out = {"hardware": None, "servers": servers, "total_bytes": total, "usable_bytes": None, "usable_basis": None,
           "fits": None, "free_bytes": None, "roles": {}, "bandwidth_basis": BANDWIDTH_BASIS}
    if hw is None:
        return out
    first_engine = servers[0]["engine"]
    usable = usable_memory(hw, first_engine, gpu_limit_gb, gpu_fraction, os_reserve_gb)
    v = verdict(total, usable)
    out.update(hardware=hw.label, usable_bytes=usable.usable_bytes, usable_basis=usable.basis, fits=v.fits,
               free_bytes=v.free_bytes, tight=v.tight)
    out["roles"] = _speeds(resolved, hw)
    return out


def _speeds(resolved: dict, hw) -> dict:
    """Per role: step time and tok/s alone (only its own sequences), and under load (every process decoding)."""
    from tokbench.catalog.calibration import get_calibration
    from tokbench.plan.speed import step_bytes, step_time

    loaded_steps = {}
    roles_out = {}
    for key, (spec, work, engine, kv, roles) in resolved.items():
        from tokbench.plan.host import for_host

        cal = for_host(get_calibration(hw, engine), hw, engine)
        conc = sum(max(1, r.concurrency) for r in roles)
        depth = _mean_depth(roles)
        loaded_steps[key], _ = step_time(spec, work, hw, cal, depth, kv, conc)
        for r in roles:
            d = r.depth if r.depth is not None else r.context
            n = max(1, r.concurrency)
            t_alone, bound = step_time(spec, work, hw, cal, d, kv, n)
            roles_out[r.role] = {"server": key, "model": spec.name, "concurrency": n, "depth": d,
                                 "bytes_per_step": step_bytes(spec, work, d, kv, n).total,
                                 "step_ms_alone": t_alone * 1e3, "decode_tps_alone": 1.0 / t_alone,
                                 "compute_bound": bound, "calibration": cal.basis}
    round_s = sum(loaded_steps.values())  # one step of every process, back to back on the bus
    for info in roles_out.values():
        info["step_ms_load"] = round_s * 1e3
        info["decode_tps_load"] = 1.0 / round_s
        info["load_over_alone"] = info["decode_tps_load"] / info["decode_tps_alone"]
    return roles_out


__all__ = ["AgentModel", "plan_agents", "BANDWIDTH_BASIS"]
