"""Measured memory bandwidth of this host: a large numpy array read on every core, best of a few runs.

Decode streams the weights: it reads. The probe reads too (a max over the array, split across a
pool of threads started before timing) and counts each byte once. On the lent 32-vCPU Xeon it read
1 GiB at 122 GB/s where llama.cpp streamed 8B Q4_0 and Q8_0 weights at 120-126; the copy it replaced
counted 76 there (a copy's write-allocate traffic is not counted, and 32 threads were spawned inside
the timed region: data/cpu_device/probe-variants-32c.txt).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

DEFAULT_MIB = 1024  # beyond any CPU cache (the lent Xeon's L3 is 300 MiB), at most 1/16 of memory


def _read_once(np, src, pool, bounds) -> float:
    t = time.perf_counter()
    if pool is None:
        np.max(src)
    else:
        list(pool.map(lambda b: np.max(src[b[0]:b[1]]), bounds))  # numpy frees the GIL in reductions
    return time.perf_counter() - t


def _array_mib(mib: int) -> int:
    try:  # a small machine keeps its memory for the model
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return max(64, min(mib, total // 16 // 2**20))
    except (ValueError, OSError, AttributeError):
        return mib


def measure_bandwidth(mib: int = DEFAULT_MIB, repeats: int = 4, max_threads: int | None = None) -> dict:
    """Best read bandwidth in GB/s (1e9 B/s) over ``repeats`` runs, on one thread and on every core."""
    import numpy as np

    mib = _array_mib(mib)
    src = np.ones(mib * 2**20 // 8, dtype=np.float64)  # written once: page faults are not bandwidth
    cores = max_threads or (os.cpu_count() or 1)
    results = {}
    for threads in sorted({1, cores}):
        n = src.shape[0]
        bounds = [(i * n // threads, (i + 1) * n // threads) for i in range(threads)]
        with ThreadPoolExecutor(threads) if threads > 1 else nullcontext() as pool:
            if pool is not None:
                # Every worker started before the clock runs: a pool spawns a thread per task only while
                # none is idle, so each warm-up task waits until all of them are running.
                gate = threading.Barrier(threads)
                list(pool.map(lambda b: gate.wait(timeout=30), bounds))
            best = min(_read_once(np, src, pool, bounds) for _ in range(repeats))
        results[threads] = src.nbytes / best / 1e9
    threads = max(results, key=results.get)
    return {"bandwidth_gbs": round(results[threads], 2), "threads": threads, "array_mib": mib,
            "method": f"numpy read (max) of {mib} MiB on a started thread pool, best of {repeats}",
            "by_threads": {str(k): round(v, 2) for k, v in results.items()}}


def measure_matmul_tflops(n: int = 1024, repeats: int = 3) -> dict:
    """Best dense float32 matrix-product rate of this host in TFLOP/s (numpy's BLAS, all its threads).

    For hosts the catalog does not know, this stands in for the chip's FP16 peak in the planner's
    compute roofline (prefill, and batched decode at high concurrency): on a CPU the engines' matrix
    kernels run at rates of the same order as the BLAS product.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm-up: thread pool start and page faults are not arithmetic
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return {"tflops": round(2 * n**3 / best / 1e12, 4), "method": f"numpy float32 {n}x{n} matmul, best of {repeats}"}


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# How close to the small-array rate a size must read to count as cached. On the 2-vCPU Xeon VM one thread
# read 64 MiB at 0.94-1.03 of its 4-16 MiB rate and 128 MiB at 0.61-0.99 (ten runs); llama.cpp decoded
# synthetic models of 9-31 MB at 19-21 G weights/s and of 60-233 MB at 10-12
# (data/cpu_host/kernel_probe/size_sweep.md): its weights stay cached to between 31 and 60 MB, half of
# 64 MiB, where 0.85 let 128 MiB through in most runs (0.92 in few; the kept probes' least is used).
CACHE_RATE = 0.92


def measure_cache_mib(llc_mib: float | None, seconds: float = 0.08) -> dict | None:
    """The last-level cache this process gets, in MiB: the largest array one thread reads at no less
    than ``CACHE_RATE`` of its best small-array rate, doubling from 4 MiB to twice what the CPU reports (None when
    the largest is read as fast: the reported size stands).

    A VM's CPU reports its socket's cache (the lent Xeons and this project's 2-vCPU VM: 300 MiB), shared
    with tenants it cannot see: on the 2-vCPU VM a 130 MB model decoded at memory speed, and one thread's
    read fell from 26 GB/s at 4-96 MiB to 18 at 192 MiB (data/cpu_host/kernel_probe/README.md).
    """
    import numpy as np

    if not llc_mib:
        return None
    top = _array_mib(int(2 * llc_mib))
    rates: dict[int, float] = {}
    mib = 4
    while mib <= top:
        src = np.ones(mib * 2**20 // 8, dtype=np.float64)
        src.max()  # first touch: page faults are not reads
        best, spent = float("inf"), 0.0
        while spent < seconds or best == float("inf"):  # best of many reads: small arrays read in microseconds
            t = _read_once(np, src, None, None)
            best, spent = min(best, t), spent + t
        rates[mib] = src.nbytes / best / 1e9
        del src
        mib *= 2
    if len(rates) < 3:
        return None
    ref = max(v for k, v in rates.items() if k <= 16)
    # the largest size still read at the cache's rate: a neighbour's burst that slows one small size
    # (this VM's probe once read 8 MiB at 70% of 4 MiB's) does not end the cache there
    fits = max((k for k, v in rates.items() if v >= CACHE_RATE * ref), default=None)
    if fits is None or fits >= max(rates):
        return None
    return {"cache_mib": fits, "reported_mib": llc_mib, "by_mib": {str(k): round(v, 1) for k, v in rates.items()},
            "method": f"numpy read (max) on one thread, doubling from 4 MiB, best read of {seconds:g} s each"}
