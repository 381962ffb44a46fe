#!/usr/bin/env python
"""Where llama.cpp's weights stop staying in this host's cache: decode speed against model size.

    python benchmarks/host_size_sweep.py [OUT.md]

Synthesizes llama models of 1-32 layers of one shape (hidden 1024, FFN 3072, Q4_K_M: ~7 MB a layer) and
times a one-token decode step of each at depth 16 in llama.cpp in this process, on the threads tokbench's
engine uses, with the kernel probe's own timer (tokbench.env.kernels): weights per second stay flat while
the model stays in the cache and fall to the memory's rate past it. Beside it, the numpy read rate by
array size that tokbench.env.bandwidth.measure_cache_mib reads the cache from.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tokbench.engines.llamacpp import default_threads
from tokbench.env.bandwidth import measure_cache_mib
from tokbench.env.kernels import _step_medians
from tokbench.modelspec.model import ModelSpec
from tokbench.plan import _weights
from tokbench.synth import synthesize

LAYERS = (1, 2, 4, 6, 8, 16, 32)


def main(argv: list[str]) -> int:
    threads = default_threads()
    lines = [f"# llama.cpp decode step against model size ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"{threads} thread(s))", "", "| layers | weights MB | M weights | step ms | G weights/s | GB/s |",
             "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="tokbench-sizesweep-") as tmp:
        for n in LAYERS:
            spec = ModelSpec(name=f"sweep-{n}", arch="llama", n_layers=n, hidden=1024, n_heads=8, n_kv_heads=2,
                             head_dim=128, vocab=2048, intermediate=3072, context_length=4096, source="size sweep")
            path = synthesize(spec, "Q4_K_M", Path(tmp) / f"sweep-{n}.gguf")
            work = _weights(spec, "Q4_K_M")[1]
            mb = sum(t.dense_bytes for t in work.types.values()) / 1e6
            weights = sum(t.dense_elems for t in work.types.values()) / 1e6
            step = min(_step_medians(path, (16,), threads, 48)[16] for _ in range(2))
            lines.append(f"| {n} | {mb:.1f} | {weights:.1f} | {step * 1e3:.2f} | {weights / step / 1e3:.1f} | "
                         f"{mb / step / 1e3:.1f} |")
            path.unlink()
    from tokbench.env import _linux_cpu

    llc = (_linux_cpu().get("cpu_facts") or {}).get("llc_mib")
    for _ in range(3):
        c = measure_cache_mib(llc)
        lines += ["", f"numpy read by array size (MiB: GB/s): {c['by_mib'] if c else 'no drop'}; "
                      f"cache this process gets: {c['cache_mib'] if c else llc} MiB of {llc} reported"]
    text = "\n".join(lines) + "\n"
    print(text)
    if argv:
        Path(argv[0]).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
