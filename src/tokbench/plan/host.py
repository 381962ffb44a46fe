"""The fitted CPU parameters rescaled to this host's own llama.cpp kernels (:mod:`tokbench.env.kernels`).

Six factors, each solved so the speed model reproduces one figure of the probe on the probe's own
model, thread count and hardware:

- ``compute``: the K-quant weight kernels' throughput (the kquant class's roof ``rho`` and row tail),
  from the small model at Q4_K_M at depth 16, whose weights sit in the cache; ``block``: the same for the
  block class (Q4_0, Q8_0...) from the small model at Q4_0. Classes the probe does not time (IQ tables and
  grids, MXFP4, floats) keep the fit's rate, and the per-node cost takes the geometric mean of the two.
  One factor for every class read a Q4_0 model 50% fast in the first pre-registered check, and the mean of
  the two for the table class an IQ4_XS model 41-44% fast in the second (data/cpu_host/kernel_probe/);
- ``attention``: decode attention's cost per cached token (the CPU ``att_row`` term and the attention
  FLOPs roof), from the same model's step at depth 2048 less its step at depth 16;
- ``memory``: what llama.cpp's threads stream from memory per byte of the numpy probe's one-core read
  (``bw_probe``), from the large model, which is read from memory;
- ``batch``: each extra sequence's share of a step's weight work (``kappa``), from the small model's
  step of 8 sequences;
- ``prefill``: the prefill efficiencies, from the small model's 2048-token prompt.

The model's structure (types, classes, the smooth roof, residency) stays the fitted one: a factor is a
property of the host, as a chip generation's factor is of its chips. Each factor is clamped to
[1/8, 8]: beyond that the probe measured something else than the kernels (a busy host).
"""

from __future__ import annotations

from dataclasses import replace

CLAMP = (0.125, 8.0)
_SOLVED: dict = {}


def _probe_of(hw):
    from tokbench.env.kernels import KernelProbe

    p = getattr(hw, "kernel_probe", None)
    if isinstance(p, dict):  # a run stored by bench keeps it as JSON
        try:
            p = KernelProbe(**p)
        except TypeError:
            return None
    return p if isinstance(p, KernelProbe) else None


def scaled(k, compute: float, attention: float, memory: float, batch: float = 1.0, block: float | None = None):
    """``k`` with the host factors applied (all 1: unchanged; ``block`` None: the compute factor)."""
    block = compute if block is None else block
    other = (compute * block) ** 0.5
    per = {"kquant": compute, "block": block}
    classes = set(k.rho_class) | set(k.row_s)
    f = {c: per.get(c, 1.0) for c in classes}
    return replace(k, rho_class={c: v * f[c] for c, v in k.rho_class.items()},
                   row_s={c: v / f[c] for c, v in k.row_s.items()},
                   node_s=k.node_s / other, att_row=k.att_row / attention, rho_att=k.rho_att * attention,
                   bw_probe=(k.bw_probe or 1.0) * memory, kappa=k.kappa / batch)


def _solve(f, target: float) -> float:
    """x in CLAMP with f(x) = target, f decreasing (bisection in log space; the clamp when out of reach)."""
    lo, hi = CLAMP
    if f(lo) <= target:
        return lo
    if f(hi) >= target:
        return hi
    for _ in range(40):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if f(mid) > target else (lo, mid)
    return (lo * hi) ** 0.5


def factors(k, hw, probe) -> tuple[float, float, float, float, float, float]:
    """(compute, attention, memory, batch, prefill, block) factors that make the speed model reproduce
    ``probe`` on ``hw`` (batch or prefill 1 when the probe lacks that figure, block the compute factor)."""
    from tokbench.env.kernels import BATCH, BLOCK_QUANT, LARGE, PROBE_QUANT, SMALL
    from tokbench.plan import _weights
    from tokbench.plan.speed import CACHE_RESIDENT_SHARE, prefill_seconds_per_token, step_parts

    key = (probe, k.backend, k.generation, hw.bandwidth_gbs, hw.core_bandwidth_gbs, hw.clock_mhz, hw.llc_mib)
    if key in _SOLVED:
        return _SOLVED[key]
    at = hw.on_threads(probe.threads)
    if at.compute_units != probe.threads:
        at = replace(at, compute_units=probe.threads)
    small, large = _weights(SMALL, PROBE_QUANT)[1], _weights(LARGE, PROBE_QUANT)[1]
    blocks = _weights(SMALL, BLOCK_QUANT)[1]
    # The small model is solved as the cache-resident model it is built to be, whatever cache figure the
    # host carries: that figure is the least of the kept probes' and a glitch reads low (16 MiB on this VM,
    # whose probes read 16 to 128 MiB while the small model's steps kept the cache's speed). Solved as read
    # from memory, its cache-speed steps put the kernel factors at the clamp (x8) and the plan off by 30%.
    small_bytes = sum(w.dense_bytes + w.expert_bytes for w in small.types.values())
    at_small = replace(at, llc_mib=max(at.llc_mib or 0.0, small_bytes / CACHE_RESIDENT_SHARE / 2**20))

    def step(f, spec, work, depth, n=1):
        return step_parts(spec, work, at_small if spec is SMALL else at, scaled(k, *f), depth, concurrency=n).total

    c = a = m = b = 1.0
    blk = None
    for _ in range(6):  # each figure leans mostly on one factor: a few sweeps settle them all
        c = _solve(lambda x: step((x, a, m, b, blk), SMALL, small, probe.depth_lo), probe.small_lo_s)
        if probe.block_lo_s:
            blk = _solve(lambda x: step((c, a, m, b, x), SMALL, blocks, probe.depth_lo), probe.block_lo_s)
        a = _solve(lambda x: step((c, x, m, b, blk), SMALL, small, probe.depth_hi)
                   - step((c, x, m, b, blk), SMALL, small, probe.depth_lo), probe.small_hi_s - probe.small_lo_s)
        m = _solve(lambda x: step((c, a, x, b, blk), LARGE, large, probe.depth_lo), probe.large_lo_s)
        if probe.batch_lo_s:
            b = _solve(lambda x: step((c, a, m, x, blk), SMALL, small, probe.depth_lo, BATCH), probe.batch_lo_s)
    p = 1.0
    if probe.prompt_s and prefill_seconds_per_token(SMALL, small, at_small, k, probe.depth_hi / 2):
        p = _solve(lambda x: probe.depth_hi * prefill_seconds_per_token(SMALL, small, at_small, prefill_scaled(k, x),
                                                                        probe.depth_hi / 2), probe.prompt_s)
    blk = c if blk is None else blk
    _SOLVED[key] = (c, a, m, b, p, blk)
    return c, a, m, b, p, blk


def prefill_scaled(k, factor: float):
    """``k`` with every prefill efficiency times ``factor``."""
    return replace(k, prefill={kind: v * factor for kind, v in k.prefill.items()})


def for_host(k, hw, engine: str):
    """``k`` rescaled to this host's probe when ``hw`` is a probed CPU host and the engine runs llama.cpp's
    CPU kernels; else ``k`` unchanged. The estimate then rests on this host's own kernels: level
    "host" ("calibrated on this host") with the CPU band of a chip the fit has rows of."""
    from tokbench.catalog.calibration import backend_of, bands_for, speed_params

    probe = _probe_of(hw)
    if probe is None or hw.kind != "cpu" or k.backend != "llama.cpp/cpu" or backend_of(engine) != "llama.cpp":
        return k
    c, a, m, b, p, blk = factors(k, hw, probe)
    lo, hi = bands_for(speed_params(), k.backend)["chip"]
    basis = (f"{k.basis}; rescaled to this host's llama.cpp kernels (K-quant kernels x{c:.2f}, block kernels "
             f"x{blk:.2f}, attention x{a:.2f}, memory streaming x{m:.2f}, batched columns x{b:.2f}, prefill "
             f"x{p:.2f}; {probe.describe()})")
    return replace(prefill_scaled(scaled(k, c, a, m, b, blk), p), level="host", prefill_level="host", basis=basis,
                   band_low=lo, band_high=hi)
