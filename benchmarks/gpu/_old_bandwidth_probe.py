"""The copy probe tokbench ran before 2026-11-30 (src/tokbench/env/bandwidth.py at c69ae78), kept only
so benchmarks/gpu/reprobe_bandwidth.sh can put its figure beside the read probe's on a lent machine.

Measured memory bandwidth of this host: a large numpy array copy, best of a few runs.

A copy reads and writes every byte, so the figure counts both (2 x array bytes per copy), the
same convention as STREAM's "Copy" and as the 3023 GB/s measured on this workplace's H100.
Threads split the array when that is faster (one core rarely saturates a memory controller).
"""

from __future__ import annotations

import os
import time

DEFAULT_MIB = 256  # far beyond any CPU cache, small enough for a shared 2-core machine


def _copy_once(np, src, dst, threads: int) -> float:
    if threads <= 1:
        t = time.perf_counter()
        np.copyto(dst, src)
        return time.perf_counter() - t
    from concurrent.futures import ThreadPoolExecutor

    n = src.shape[0]
    bounds = [(i * n // threads, (i + 1) * n // threads) for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        t = time.perf_counter()
        list(pool.map(lambda b: np.copyto(dst[b[0]:b[1]], src[b[0]:b[1]]), bounds))  # numpy frees the GIL
        return time.perf_counter() - t


def measure_bandwidth(mib: int = DEFAULT_MIB, repeats: int = 4, max_threads: int | None = None) -> dict:
    """Best copy bandwidth in GB/s (1e9 B/s) over ``repeats`` runs, single-threaded and threaded."""
    import numpy as np

    src = np.ones(mib * 2**20 // 8, dtype=np.float64)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch pages first: page faults are not bandwidth
    # Every core: llama.cpp decodes on all of them, and on the lent 16-vCPU Xeon 8 threads copied at
    # 61 GB/s while llama.cpp on 16 read an 8B F16 model at 85 (data/cpu_device/results.md).
    cores = max_threads or (os.cpu_count() or 1)
    results = {}
    for threads in sorted({1, cores}):
        best = min(_copy_once(np, src, dst, threads) for _ in range(repeats))
        results[threads] = 2 * src.nbytes / best / 1e9
    threads = max(results, key=results.get)
    return {"bandwidth_gbs": round(results[threads], 2), "threads": threads, "array_mib": mib,
            "method": f"numpy copy of {mib} MiB, read+write bytes, best of {repeats}",
            "by_threads": {str(k): round(v, 2) for k, v in results.items()}}
