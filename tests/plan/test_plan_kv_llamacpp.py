"""The planner's KV cache and recurrent state equal what llama.cpp allocates for the same model.

Small synthetic GGUFs (tokbench.synth) of each layer kind are loaded with llama-cpp-python's
low-level API; llama.cpp logs its allocation ("llama_kv_cache: size = X MiB (N cells, ...)",
"llama_memory_recurrent: size = ..."), which we read through llama_log_set. The log prints MiB with
two decimals, so sizes are compared to 0.006 MiB and cell counts exactly.
"""

from __future__ import annotations

import ctypes
import re

import pytest

llama_cpp = pytest.importorskip("llama_cpp")

from tokbench.plan.kv import kv_cache  # noqa: E402
from tokbench.modelspec import load_spec  # noqa: E402
from tokbench.synth import DEFAULT_SPEC, prepare, synthesize  # noqa: E402

MiB = 2**20
GGML = {"f16": llama_cpp.GGML_TYPE_F16, "q8_0": llama_cpp.GGML_TYPE_Q8_0, "q4_0": llama_cpp.GGML_TYPE_Q4_0}
_KV = re.compile(r"llama_kv_cache: size =\s*([\d.]+) MiB \(\s*(\d+) cells,\s*(\d+) layers")
_RS = re.compile(r"llama_memory_recurrent: size =\s*([\d.]+) MiB")


def llama_allocation(path, n_ctx: int, n_seq: int = 1, kv_type: str = "f16", swa_full: bool = False) -> dict:
    """Load ``path`` with a context and return the KV caches (MiB, cells, layers) and state MiB it logs."""
    lines: list[str] = []

    @llama_cpp.llama_log_callback
    def _cb(level, text, user):  # noqa: ARG001 - ctypes signature
        lines.append(text.decode(errors="replace"))

    llama_cpp.llama_log_set(_cb, ctypes.c_void_p(0))
    try:
        mp = llama_cpp.llama_model_default_params()
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), mp)
        assert model, "llama.cpp could not load the synthetic model"
        cp = llama_cpp.llama_context_default_params()
        cp.n_ctx, cp.n_seq_max, cp.n_threads, cp.n_threads_batch = n_ctx, n_seq, 1, 1
        cp.type_k = cp.type_v = GGML[kv_type]
        # The C API defaults to full-size SWA caches; llama-server and llama-cli (common) do not.
        cp.swa_full = swa_full
        cp.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED  # quantized V needs it
        ctx = llama_cpp.llama_init_from_model(model, cp)
        assert ctx, "llama.cpp could not create the context"
        llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(model)
    finally:
        from llama_cpp import _logger

        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
    text = "".join(lines)
    caches = [(float(m), int(c), int(n)) for m, c, n in _KV.findall(text)]
    states = [float(m) for m in _RS.findall(text)]
    return {"kv": caches, "state_mib": sum(states), "text": text}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Synthetic GGUFs: dense GQA, gpt-oss (sliding), Qwen3.5 (Gated DeltaNet), DeepSeek (MLA), Gemma 3."""
    d = tmp_path_factory.mktemp("kv")
    out = {"dense": (DEFAULT_SPEC, synthesize(DEFAULT_SPEC, "Q8_0", d / "dense.gguf", vocab=DEFAULT_SPEC.vocab))}
    for key, model, layers, width in (("swa", "gpt-oss-20b", 2, 0.125), ("hybrid", "qwen3.5-397b-a17b", 4, 0.0625),
                                      ("mla", "deepseek-v3", 2, 0.0625), ("gemma", "gemma-3-27b", 6, 0.0625)):
        spec = prepare(load_spec(model), scale_layers=layers, scale_width=width)
        path = synthesize(spec, "Q8_0", d / f"{key}.gguf")
        out[key] = (spec, path)
    return out


def _check(spec, path, context: int, n_seq: int = 1, kv_type: str = "f16", swa_full: bool = False):
    got = llama_allocation(path, context * n_seq, n_seq, kv_type, swa_full)
    want = kv_cache(spec, context, n_seq, kv_type, swa_full=swa_full)
    assert got["kv"], got["text"][-2000:]
    assert sum(m for m, _, _ in got["kv"]) == pytest.approx(want.kv_bytes / MiB, abs=0.006 * len(got["kv"]))
    assert sorted(c for _, c, _ in got["kv"]) == sorted(want.cells.values())
    assert got["state_mib"] == pytest.approx(want.state_bytes / MiB, abs=0.006)
    return want


@pytest.mark.parametrize("kv_type", ["f16", "q8_0", "q4_0"])
def test_dense_kv_matches_llamacpp(models, kv_type):
    spec, path = models["dense"]
    want = _check(spec, path, 1000, 1, kv_type)
    assert want.cells == {"full": 1024}  # n_ctx padded to 256


def test_dense_kv_several_sequences(models):
    spec, path = models["dense"]
    want = _check(spec, path, 700, 3)
    assert want.cells == {"full": 768} and want.streams == 3  # pad256(2100) / 3 streams -> 768 cells each


def test_sliding_window_cells_match_llamacpp(models):
    spec, path = models["swa"]
    want = _check(spec, path, 4096)
    assert want.cells["sliding"] == 768  # pad256(min(4096, 128 + 512))


def test_full_size_swa_cache(models):
    spec, path = models["swa"]
    want = _check(spec, path, 4096, swa_full=True)
    assert want.cells["sliding"] == 4096  # what llama-cpp-python gets by default (C API swa_full = true)


def test_gemma_sliding_cells(models):
    spec, path = models["gemma"]
    want = _check(spec, path, 8192, 2)
    assert want.cells["sliding"] == 1536  # per stream pad256(1024 + 512)


def test_gated_deltanet_state_matches_llamacpp(models):
    spec, path = models["hybrid"]
    want = _check(spec, path, 2048, 2)
    assert want.state_bytes > 0 and want.layers == {"linear": 3, "full": 1}


def test_mla_latent_cache_matches_llamacpp(models):
    spec, path = models["mla"]
    want = _check(spec, path, 2048)
    assert set(want.cells) == {"mla"}
