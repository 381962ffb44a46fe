#!/usr/bin/env python
"""Count the kernels llama.cpp runs per decoded token, per layer kind; write catalog/data/graph_nodes.csv.

The speed model charges a fixed cost per graph node (kernel launch, tail, synchronisation), so it
needs how many nodes one decode step of a model runs. llama.cpp builds that graph itself: with
``GGML_SCHED_DEBUG=2`` its scheduler logs every node of the graph it runs, and view-only nodes
(reshape, view, permute, transpose: no kernel) are skipped in that log. For each architecture this
script writes tiny models with ``tokbench synth`` (the architecture's real layer pattern, widths
scaled down: node counts do not depend on widths) at several layer counts, decodes one token with
flash attention on (llama.cpp's default on GPUs), counts the logged nodes and solves

    nodes(model) = head + sum over layers of nodes[attention kind, ffn kind]

by least squares; the fit must be exact (integer counts), else the script stops.

These are the CPU backend's graphs. Backends fuse some nodes (CUDA fuses norm+mul, the MoE top-k
routing and more), so the per-node cost fitted per backend is an average over what it fuses.

Usage: python scripts/count_graph_nodes.py [--check]   (needs llama-cpp-python; about a minute)
"""

from __future__ import annotations

import argparse
import collections
import csv
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "tokbench" / "catalog" / "data" / "graph_nodes.csv"
# arch -> (model, quant, layer counts to write). Every model written must hold a KV-cached layer:
# llama.cpp asserts on a model without one (a hybrid cut before its first full-attention layer).
MODELS = {
    "llama": ("llama-3.1-8b", "Q4_K_M", (2, 3, 4)),
    "qwen2": ("qwen2.5-7b", "Q4_K_M", (2, 3, 4)),
    "qwen3": ("qwen3-4b", "Q4_K_M", (2, 3, 4)),
    "qwen3moe": ("qwen3-30b-a3b", "Q4_K_M", (2, 3, 4)),
    "gpt-oss": ("gpt-oss-120b", "MXFP4_MOE", (2, 3, 4, 5)),
    "qwen3next": ("qwen3-next-80b-a3b", "Q4_K_M", (4, 5, 8)),
    "qwen35moe": ("qwen3.5-397b-a17b", "IQ2_XXS", (4, 5, 8)),
    "deepseek2": ("deepseek-v3", "Q4_K_M", (2, 3, 4, 5, 6)),
    "gemma3": ("gemma-3-27b", "Q4_K_M", (6, 7, 12)),
    "qwen35": ("qwen3.5-27b", "Q4_K_M", (4, 5, 8)),
    "minimax-m2": ("minimax-m2", "Q4_K_M", (2, 3, 4)),
    "llama4": ("llama-4-scout-17b-16e", "Q4_K_M", (4, 5, 8)),
    "gemma4": ("gemma-4-26b-a4b", "Q4_K_M", (6, 7, 12)),
    "deepseek32": ("deepseek-v3.2", "Q4_K_M", (2, 3, 4, 5, 6)),
}
# Not counted (the planner uses typical counts and says so): glm4moe, whose one leading dense layer
# cannot be told apart from the head at any layer count; nemotron_h_moe, whose counts are not an
# exact per-layer sum over (mamba, ffn, attention) layers at 6/8/13/15 layers.
FIELDS = ["arch", "part", "attention", "ffn", "nodes", "matmul_nodes", "source"]
SOURCE = "llama.cpp (llama-cpp-python {ver}) CPU decode graph, flash attention on; scripts/count_graph_nodes.py"


def layer_parts(spec) -> list[tuple[str, str]]:
    """(attention kind, ffn kind) of each layer: ffn is dense or moe."""
    return [(k, "moe" if spec.is_moe_layer(i) else "dense") for i, k in enumerate(spec.kinds)]


def count_nodes(path: Path) -> collections.Counter:
    """Op counts of one single-token decode graph of the GGUF at ``path`` (view ops excluded).

    Each model is loaded in a fresh process: loading several models of different architectures
    one after another in one process trips an assertion in this llama.cpp build (KV buffer NULL).
    """
    import json
    import subprocess

    env = {**os.environ, "GGML_SCHED_DEBUG": "2"}  # read by ggml_backend_sched_new: log every graph node
    res = subprocess.run([sys.executable, __file__, "--one", str(path)], capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise SystemExit(f"counting {path.name} failed: {res.stderr[-600:]}")
    return collections.Counter(json.loads(res.stdout.strip().splitlines()[-1]))


def _count_here(path: Path) -> collections.Counter:
    """The counting itself (run in a child process by :func:`count_nodes`)."""
    import llama_cpp

    lines: list[str] = []

    @llama_cpp.llama_log_callback
    def cb(level, text, user_data):  # noqa: ARG001 - llama.cpp's callback signature
        lines.append(text.decode(errors="replace"))

    llama_cpp.llama_log_set(cb, None)
    llm = llama_cpp.Llama(str(path), n_ctx=512, n_batch=64, n_ubatch=64, verbose=True, n_threads=1,
                          flash_attn=True)
    lines.clear()
    llm.eval([1])
    ops = collections.Counter(re.findall(r"node #\s*\d+ \(\s*([^)]*?)\)", "".join(lines)))
    if not ops:
        raise SystemExit("no graph nodes logged: is GGML_SCHED_DEBUG=2 honoured by this llama.cpp build?")
    return ops


def fit_arch(arch: str, model: str, quant: str, layers: tuple[int, ...], tmp: Path) -> list[dict]:
    """Per-part node and matmul-node counts of one architecture (exact least squares)."""
    import numpy as np

    from tokbench.report.reference import model_spec
    from tokbench.synth import prepare, synthesize

    base = model_spec(model)  # catalog models and calibration-only ones (qwen3-4b)
    samples = []
    for n in layers:
        spec = prepare(base, scale_layers=n, scale_width=0.0625)
        path = tmp / f"{arch}-{n}.gguf"
        synthesize(base, quant, path, seed=0, scale_layers=n, scale_width=0.0625)
        ops = count_nodes(path)
        path.unlink()
        mm = ops.get("MUL_MAT", 0) + ops.get("MUL_MAT_ID", 0)
        samples.append((collections.Counter(layer_parts(spec)), sum(ops.values()), mm))
    parts = sorted({p for c, _, _ in samples for p in c})
    X = np.array([[1.0] + [c[p] for p in parts] for c, _, _ in samples])
    out = []
    for col, ys in (("nodes", [s[1] for s in samples]), ("matmul_nodes", [s[2] for s in samples])):
        sol, *_ = np.linalg.lstsq(X, np.array(ys, dtype=float), rcond=None)
        if np.abs(X @ sol - ys).max() > 1e-6 or np.abs(sol - np.round(sol)).max() > 1e-6:
            raise SystemExit(f"{arch}: {col} is not an exact per-layer sum: {sol} from {ys}")
        for i, name in enumerate(["head"] + parts):
            key = ("head", "", "") if name == "head" else ("layer", *name)
            row = next((r for r in out if (r["part"], r["attention"], r["ffn"]) == key), None)
            if row is None:
                row = {"arch": arch, "part": key[0], "attention": key[1], "ffn": key[2]}
                out.append(row)
            row[col] = int(round(sol[i]))
    return out


def main(argv: list[str] | None = None) -> int:
    """Count every architecture's graph nodes and write (or, with --check, compare) the CSV."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed CSV; write nothing")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # child process: count one GGUF's nodes
    args = ap.parse_args(argv)
    if args.one:
        import json

        print(json.dumps(_count_here(Path(args.one))))
        return 0
    import llama_cpp

    src = SOURCE.format(ver=llama_cpp.__version__)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for arch, (model, quant, layers) in MODELS.items():
            got = fit_arch(arch, model, quant, layers, Path(d))
            rows += [{**r, "source": src} for r in got]
            print(arch, [(r["part"], r["attention"], r["ffn"], r["nodes"], r["matmul_nodes"]) for r in got],
                  file=sys.stderr)
    if args.check:
        with OUT.open(newline="") as fh:
            old = [{k: str(v) for k, v in r.items()} for r in csv.DictReader(fh)]
        new = [{k: str(r[k]) for k in FIELDS} for r in rows]
        strip = lambda rs: [{k: v for k, v in r.items() if k != "source"} for r in rs]  # noqa: E731
        print("same" if strip(old) == strip(new) else "DIFFERENT")
        return 0 if strip(old) == strip(new) else 1
    with OUT.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {OUT.relative_to(ROOT)} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
