"""Synthesized GGUFs of the new architectures: llama.cpp's own quantizer picks the types we write,
and the quantized files load and generate."""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "modelspec"))

from tiny_families import tiny_families  # noqa: E402
from tokbench.quant.presets import get_preset  # noqa: E402
from tokbench.synth import synthesize  # noqa: E402

llama_cpp = pytest.importorskip("llama_cpp")
gguf = pytest.importorskip("gguf")
pytestmark = pytest.mark.engine

# Q4_K_M and Q2_K exercise the layer-dependent attn_v/ffn_down rules, IQ4_XS the GQA rule,
# MXFP4_MOE the expert rule; Gemma 4 and Nemotron-H (GQA >= 4 with a Mamba layer 0) are where
# llama-quant.cpp's layer-0 n_gqa differs from the model's.
PRESETS = ("Q4_K_M", "Q2_K", "IQ4_XS", "MXFP4_MOE")
CASES = [(k, p) for k in sorted(tiny_families()) for p in PRESETS
         if p != "MXFP4_MOE" or tiny_families()[k].is_moe]


def _types(path) -> dict[str, str]:
    return {t.name: t.tensor_type.name for t in gguf.GGUFReader(path).tensors}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("f16")
    return {k: synthesize(s, "F16", root / f"{k}.gguf", vocab=s.vocab) for k, s in tiny_families().items()}


@pytest.mark.parametrize("key,preset", CASES, ids=[f"{k}-{p}" for k, p in CASES])
def test_quantizer_agrees(sources, tmp_path, key, preset):
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = get_preset(preset).ftype
    params.nthread = 1
    ref = tmp_path / "ref.gguf"
    assert llama_cpp.llama_model_quantize(str(sources[key]).encode(), str(ref).encode(), ctypes.byref(params)) == 0
    spec = tiny_families()[key]
    ours = synthesize(spec, preset, tmp_path / "ours.gguf", vocab=spec.vocab)
    assert _types(ours) == _types(ref)


@pytest.mark.parametrize("key", ["qwen35", "nemotron_h_moe", "gemma4-shared-ple", "deepseek32", "llama4"])
def test_quantized_synth_generates(tmp_path, key):
    spec = tiny_families()[key]
    path = synthesize(spec, "Q4_K_M", tmp_path / "m.gguf", vocab=spec.vocab)
    llm = llama_cpp.Llama(str(path), n_ctx=256, n_threads=2, verbose=False)
    try:
        out = llm.create_completion("hello world", max_tokens=4, temperature=0)
        assert out["usage"]["completion_tokens"] >= 1
    finally:
        llm.close()
