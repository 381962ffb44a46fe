"""KV cache and recurrent state of the new layer kinds equal llama.cpp's allocation: Mamba-2 state
(Nemotron-H), the DSA indexer cache (DeepSeek-V3.2), Gemma 4's per-kind head sizes and shared-KV
layers, Llama 4's chunked layers, and FFN-only layers that hold nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "modelspec"))

llama_cpp = pytest.importorskip("llama_cpp")

from test_plan_kv_llamacpp import MiB, llama_allocation  # noqa: E402
from tiny_families import tiny_families  # noqa: E402
from tokbench.plan.kv import kv_cache  # noqa: E402
from tokbench.synth import synthesize  # noqa: E402

pytestmark = pytest.mark.engine
KEYS = ["nemotron_h", "nemotron_h_moe", "deepseek32", "gemma4", "gemma4-shared-ple", "llama4", "qwen35", "minimax-m2",
        "glm4moe"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("kvf")
    return {k: synthesize(tiny_families()[k], "Q8_0", root / f"{k}.gguf", vocab=tiny_families()[k].vocab) for k in KEYS}


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("context,n_seq", [(1000, 1), (700, 2)])
def test_allocation_matches_llamacpp(files, key, context, n_seq):
    spec = tiny_families()[key]
    got = llama_allocation(files[key], context * n_seq, n_seq)
    want = kv_cache(spec, context, n_seq)
    assert got["kv"], got["text"][-2000:]
    assert sum(m for m, _, _ in got["kv"]) == pytest.approx(want.kv_bytes / MiB, abs=0.006 * len(got["kv"]))
    assert got["state_mib"] == pytest.approx(want.state_bytes / MiB, abs=0.006)
    assert set(c for _, c, _ in got["kv"]) == set(want.cells.values())


def test_kinds_without_cache():
    spec = tiny_families()["nemotron_h"]
    cache = kv_cache(spec, 4096)
    assert cache.layers == {"mamba": 2, "ffn": 3, "full": 1} and set(cache.cells) == {"full"}
    assert cache.state_bytes > 0 and set(cache.bytes_by_kind) == {"full", "mamba"}
    shared = tiny_families()["gemma4-shared-ple"]
    own = [i for i in range(shared.n_layers) if shared.has_kv(i)]
    assert own == list(range(6))  # the last 6 layers reuse earlier caches
