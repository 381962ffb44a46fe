"""Bandwidth probe variants on a lent machine (issue 15): copy vs read, array size, pool warm-up."""
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tokbench.env.bandwidth import measure_bandwidth

threads = os.cpu_count()
for mib in (256, 1024):
    print("fixed copy", mib, json.dumps(measure_bandwidth(mib=mib)))
    n = mib * 2**20 // 8
    src = np.ones(n)
    bounds = [(i * n // threads, (i + 1) * n // threads) for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda b: None, bounds))
        for name, fn in (("read max", lambda b: np.max(src[b[0]:b[1]])),
                         ("read dot", lambda b: np.dot(src[b[0]:b[1]], src[b[0]:b[1]]))):
            best = 1e9
            for _ in range(5):
                t = time.perf_counter()
                list(pool.map(fn, bounds))
                best = min(best, time.perf_counter() - t)
            print(name, mib, round(src.nbytes / best / 1e9, 2))
