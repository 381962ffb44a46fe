"""llama.cpp's own kernels timed on this host: what a CPU host's plan is rescaled to.

The speed model's CPU parameters are fitted per instruction-set generation over many machines, and a
CPU host differs from its generation by more than the bands allow: on the 2-vCPU Xeon VM this project's
tests run on, llama.cpp's K-quant kernels run 1.8-1.9x the generation's fitted rate, decode attention
2.8-3.1x, and one thread streams weights from memory at 0.65-0.85 of what the fit expects from the
numpy read probe (data/cpu_host/kernel_probe/README.md). Bandwidth and matmul probes do not see
llama.cpp's kernels; this probe runs them.

Two synthetic models (``tokbench synth`` shapes, cached beside the default bench model) are decoded
one token at a time in llama.cpp in this process, on the threads tokbench's engine uses:

- a small one (14 MB at Q4_K_M: in the last-level cache of any host tokbench plans for) at depth
  16 and at depth 2048: the kernels' throughput, then decode attention's cost per cached token;
- a large one (222 MB: beyond the cache this VM's process gets) at depth 16: the weights streamed
  from memory by llama.cpp's own kernels;
- the small one again, 8 sequences at depth 16 decoded in one step: what each extra sequence of a
  batch costs (llama.cpp's CPU kernels take several columns at once in repacked layouts);
- the 2048-token prompt that fills the small model's deep sequence: prefill;
- the small model at Q4_0, depth 16: the block-quant kernels (Q4_0, Q8_0...), apart from the K-quants;
- beside them, the last-level cache this process gets (:func:`tokbench.env.bandwidth.measure_cache_mib`).

Steps at the two depths alternate (drift on a shared host falls on both alike) and each figure is the
least median of four consecutive blocks of steps. :mod:`tokbench.plan.host` turns the figures into
factors on the fitted parameters. The last five probes are kept per host, thread count and llama-cpp-python version (``host_kernels.json``
in tokbench's cache directory) and plans take each figure's median over them: this VM runs 50% slower
for minutes at a time (one probe read 1.78 ms where the next three read 1.15-1.16). A plan probes when
nothing is kept; `tokbench hw probe` adds one each run, `tokbench bench` while fewer than three are kept
or the newest is over an hour old. About 5-10 seconds on 2 cores.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tokbench.modelspec.model import ModelSpec

PROBE_VERSION = 5  # bump when the probe's models or method change (invalidates cached results)
PROBE_QUANT = "Q4_K_M"
BLOCK_QUANT = "Q4_0"  # the block-quant kernels, timed apart (llama.cpp's CPU kernels differ by type family)
# Shapes no fitted or test model has: head_dim 128 with 3 query heads per KV head (small) and 4 (large).
SMALL = ModelSpec(name="tokbench-probe-small", arch="llama", n_layers=4, hidden=768, n_heads=6, n_kv_heads=2,
                  head_dim=128, vocab=2048, intermediate=1536, context_length=4096, source="tokbench kernel probe")
LARGE = ModelSpec(name="tokbench-probe-large", arch="llama", n_layers=8, hidden=2048, n_heads=16, n_kv_heads=4,
                  head_dim=128, vocab=2048, intermediate=5632, context_length=4096, source="tokbench kernel probe")
DEPTH_LO, DEPTH_HI = 16, 2048
BATCH = 8  # sequences in the batched step (tokbench bench's default sweep runs 8 concurrent)
STEPS = 100


@dataclass(frozen=True)
class KernelProbe:
    """Median seconds of one decode step of the probe models in llama.cpp on this host."""

    threads: int
    engine_version: str
    small_lo_s: float  # SMALL at DEPTH_LO
    small_hi_s: float  # SMALL at DEPTH_HI
    large_lo_s: float  # LARGE at DEPTH_LO
    batch_lo_s: float = 0.0  # SMALL: one step of BATCH sequences, each at DEPTH_LO (0: not measured)
    prompt_s: float = 0.0  # SMALL: the DEPTH_HI-token prompt that fills the deep sequence (0: not measured)
    block_lo_s: float = 0.0  # SMALL at BLOCK_QUANT, at DEPTH_LO (0: not measured)
    cache_mib: float = 0.0  # the cache this process gets (tokbench.env.bandwidth.measure_cache_mib; 0: none)
    taken_at: float = 0.0  # when (seconds since the epoch)
    depth_lo: int = DEPTH_LO
    depth_hi: int = DEPTH_HI
    isa: str = ""  # what llama.cpp's CPU backend was compiled for (its system info line)

    def describe(self) -> str:
        """One line for plans and ``hw probe``."""
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        return (f"llama.cpp kernel probe ({threads}, {self.engine_version}): "
                f"{self.small_lo_s * 1e3:.2f} / {self.small_hi_s * 1e3:.2f} ms per step at depth "
                f"{self.depth_lo} / {self.depth_hi} (14 MB model), {self.large_lo_s * 1e3:.1f} ms (222 MB model), "
                f"{self.batch_lo_s * 1e3:.2f} ms for {BATCH} sequences (14 MB model), {self.block_lo_s * 1e3:.2f} ms "
                f"at {BLOCK_QUANT}")


def _cache_file() -> Path:
    from tokbench.synth import default_model_path

    return default_model_path().parent.parent / "host_kernels.json"


def _host_key(threads: int, version: str) -> str:
    import platform

    from tokbench.env import _linux_cpu

    facts = _linux_cpu() if platform.system() == "Linux" else {}
    return "|".join(str(x) for x in (facts.get("cpu") or platform.processor(), os.cpu_count(), threads, version,
                                     PROBE_VERSION))


def _engine_version() -> str | None:
    try:
        import llama_cpp
    except Exception:  # noqa: BLE001 - not installed, or its library does not load here
        return None
    return f"llama-cpp-python {llama_cpp.__version__}"


KEEP = 5  # probes kept per host: a plan uses the median of each figure over them
FRESH = (3, 3600.0)  # a bench probes again while fewer than 3 are kept or the newest is over an hour old


def _now() -> float:
    return time.time()


def history(threads: int) -> list[KernelProbe]:
    """The probes kept for this host at ``threads`` threads, oldest first (empty when there are none)."""
    version = _engine_version()
    if version is None:
        return []
    try:
        kept = json.loads(_cache_file().read_text())[_host_key(threads, version)]
        return [KernelProbe(**p) for p in kept]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def combined(probes: list[KernelProbe]) -> KernelProbe:
    """One probe whose every timing is the median of ``probes``' and whose cache is their least (the latest's
    identity)."""
    from dataclasses import replace

    figures = ("small_lo_s", "small_hi_s", "large_lo_s", "batch_lo_s", "prompt_s", "block_lo_s")
    # the cache: the least any probe saw, as a noisy minute lets a read beyond it run at the cache's rate
    # (this VM's 128 MiB read passed in some runs where llama.cpp's weights leave the cache from ~60 MB)
    caches = [p.cache_mib for p in probes if p.cache_mib]
    return replace(probes[-1], cache_mib=min(caches) if caches else 0.0,
                   **{f: statistics.median(getattr(p, f) for p in probes) for f in figures})


def cached(threads: int) -> KernelProbe | None:
    """This host's kept probes at ``threads`` threads, combined (None when there is none)."""
    kept = history(threads)
    return combined(kept) if kept else None


def host_probe(threads: int, progress=None, refresh: bool | str = False,
               llc_mib: float | None = None, cache: dict | None | bool = False) -> KernelProbe | None:
    """This host's probe at ``threads`` threads: the median of the probes kept for it (the last ``KEEP``),
    after timing one more when none is kept, or ``refresh`` is True (`tokbench hw probe`), or it is "stale"
    and fewer than three are kept or the newest is over an hour old (`tokbench bench`): a shared host's slow
    minute then weighs one probe of several, not every plan, and a bench pays the seconds at most hourly.
    None when llama-cpp-python is not installed or the probe fails: the plan then uses the fitted terms."""
    kept = history(threads)
    if refresh == "stale":
        refresh = len(kept) < FRESH[0] or _now() - max(p.taken_at for p in kept) > FRESH[1]
    if kept and not refresh:
        return combined(kept)
    version = _engine_version()
    if version is None:
        return None
    if progress is not None:
        progress(f"timing llama.cpp's kernels on this host ({threads} thread{'s' if threads != 1 else ''}; ~10 s)")
    try:
        probe = measure(threads, llc_mib=llc_mib, cache=cache)
    except Exception:  # noqa: BLE001 - a failed probe must not stop a plan or a bench
        return combined(kept) if kept else None
    kept = (kept + [probe])[-KEEP:]
    path = _cache_file()
    try:
        doc = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        doc = {}
    doc[_host_key(threads, version)] = [asdict(p) for p in kept]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, path)  # whole or not at all: another process may read it meanwhile
    except OSError:
        pass  # a read-only cache costs a probe per process, nothing else
    return combined(kept)


def measure(threads: int, steps: int = STEPS, llc_mib: float | None = None,
            cache: dict | None | bool = False) -> KernelProbe:
    """Time the probe models now (see the module docstring); with ``llc_mib`` (the CPU's reported cache)
    also the cache this process gets, which flips between 64 and 128 MiB from run to run on this VM: kept
    with the probes, plans take the least. ``cache``: that measurement when it was just made
    (:func:`tokbench.env.bandwidth.measure_cache_mib`'s result, None for no drop); False: make it here."""
    import llama_cpp

    from tokbench.env.bandwidth import measure_cache_mib
    from tokbench.synth import ensure_default_model

    path = ensure_default_model(SMALL, PROBE_QUANT)
    prompts: dict[int, float] = {}
    small = _step_medians(path, (DEPTH_LO, DEPTH_HI), threads, steps, prompts=prompts)
    batch = _step_medians(path, (DEPTH_LO,) * BATCH, threads, max(8, steps // 3), together=True)
    block = _step_medians(ensure_default_model(SMALL, BLOCK_QUANT), (DEPTH_LO,), threads, steps)
    large = _step_medians(ensure_default_model(LARGE, PROBE_QUANT), (DEPTH_LO,), threads, max(8, steps // 3))
    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    # "CPU : SSE3 = 1 | AVX2 = 1 | ..." -> "SSE3 AVX2 ..."
    isa = " ".join(part.split("=")[0].split(":")[-1].strip() for part in info.split("|")
                   if part.strip().endswith("= 1"))
    return KernelProbe(threads=threads, engine_version=_engine_version() or "", small_lo_s=small[DEPTH_LO],
                       small_hi_s=small[DEPTH_HI], large_lo_s=large[DEPTH_LO], batch_lo_s=batch[DEPTH_LO],
                       prompt_s=prompts[DEPTH_HI], block_lo_s=block[DEPTH_LO],
                       cache_mib=float(((measure_cache_mib(llc_mib) if cache is False else cache) or {})
                                       .get("cache_mib") or 0), isa=isa,
                       taken_at=_now())


def _step_medians(path: Path, depths: tuple[int, ...], threads: int, steps: int,
                  together: bool = False, prompts: dict | None = None) -> dict[int, float]:
    """Median seconds of a one-token decode step at each depth: one sequence per depth in one context,
    steps alternating between them, each step's cell removed again so the depth stays put
    (``together``: every sequence's token in one step, keyed by the first depth). The figure is the least
    median of four consecutive blocks of the steps. ``prompts`` receives each depth's prompt seconds."""
    import llama_cpp
    import numpy as np
    from llama_cpp import _logger

    _logger.set_verbose(False)
    llama_cpp.llama_backend_init()
    mparams = llama_cpp.llama_model_default_params()
    model = llama_cpp.llama_model_load_from_file(str(path).encode(), mparams)
    if not model:
        raise RuntimeError(f"llama.cpp could not load {path}")
    ctx = batch = None
    n_batch = 512
    try:
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_seq_max = len(depths)
        cells = -(-(max(depths) + 256) // 256) * 256  # each sequence gets n_ctx / n_seq_max cells
        cparams.n_ctx = len(depths) * cells
        cparams.n_batch = cparams.n_ubatch = n_batch
        cparams.n_threads = cparams.n_threads_batch = threads
        ctx = llama_cpp.llama_init_from_model(model, cparams)
        if not ctx:
            raise RuntimeError("llama.cpp could not create the probe's context")
        mem = llama_cpp.llama_get_memory(ctx)
        batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
        rng = np.random.default_rng(0)

        def feed(items: list[tuple[int, int, int]], every: bool = False) -> None:
            # items: (token, position, sequence); logits for the last, or (``every``) for each, as a
            # server's batched step samples every sequence
            for s in range(0, len(items), n_batch):
                chunk = items[s:s + n_batch]
                batch.n_tokens = len(chunk)
                for i, (t, pos, seq) in enumerate(chunk):
                    batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = t, pos, 1, int(every)
                    batch.seq_id[i][0] = seq
                batch.logits[len(chunk) - 1] = 1
                if llama_cpp.llama_decode(ctx, batch) != 0:
                    raise RuntimeError("llama_decode failed in the kernel probe")

        for j, d in enumerate(depths):
            t0 = time.perf_counter()
            feed([(int(t), p, j) for p, t in enumerate(rng.integers(10, n_vocab, d))])
            llama_cpp.llama_synchronize(ctx)
            if prompts is not None:
                prompts[d] = time.perf_counter() - t0
        rounds = [list(enumerate(depths))] if together else [[(j, d)] for j, d in enumerate(depths)]
        times: dict[int, list[float]] = {r[0][1]: [] for r in rounds}
        for _ in range(steps):
            for r in rounds:
                items = [(int(rng.integers(10, n_vocab)), d, j) for j, d in r]
                t0 = time.perf_counter()
                feed(items, every=together)
                llama_cpp.llama_synchronize(ctx)
                times[r[0][1]].append(time.perf_counter() - t0)
                for j, d in r:
                    llama_cpp.llama_memory_seq_rm(mem, j, d, -1)
        # The least of four blocks' medians: a neighbour's burst on a shared host slows one block, not all
        blocks = 4 if steps >= 16 else 1
        size = steps // blocks
        return {d: min(statistics.median(v[b * size:(b + 1) * size]) for b in range(blocks)) for d, v in times.items()}
    finally:
        if batch is not None:
            llama_cpp.llama_batch_free(batch)
        if ctx:
            llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(model)
