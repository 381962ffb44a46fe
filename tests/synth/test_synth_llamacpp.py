"""Synthesized GGUF files load and generate in llama-cpp-python; llama.cpp's own quantizer agrees on types."""

import ctypes
from dataclasses import replace

import pytest
from gguf import GGUFReader

from tokbench.modelspec import load_spec
from tokbench.synth import DEFAULT_SPEC, prepare, synthesize

llama_cpp = pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.engine

# (catalog model, preset, layers): layers cover each family's layer-kind pattern.
FAMILIES = [
    ("llama-3.1-8b", "Q4_K_M", 2),
    ("qwen2.5-7b", "Q8_0", 2),
    ("qwen3-30b-a3b", "Q4_K_M", 2),
    ("gpt-oss-20b", "MXFP4_MOE", 2),  # sliding + full layers, MXFP4 experts
    ("qwen3-next-80b-a3b", "Q4_K_M", 4),  # 3 Gated DeltaNet layers + 1 full attention
    ("qwen3.5-397b-a17b", "IQ4_XS", 4),
    ("deepseek-v3", "Q4_K_M", 2),  # MLA, 1 dense + 1 MoE layer
    ("gemma-3-27b", "Q4_K_M", 6),  # 5 sliding + 1 global
]


def _small(model, layers):
    spec = load_spec(model)
    if spec.n_experts > 16:  # fewer experts keep the file small; routing code is the same
        spec = replace(spec, n_experts=16, n_experts_used=min(spec.n_experts_used, 4))
    return prepare(spec, scale_layers=layers, scale_width=0.0625, vocab=1024)


def _generate(path, n=8):
    llm = llama_cpp.Llama(str(path), n_ctx=256, n_threads=2, verbose=False)
    try:
        toks = llm.tokenize(b"hello world, the quick brown fox")
        assert llm.detokenize(toks) == b"hello world, the quick brown fox"
        out = llm.create_completion("hello world", max_tokens=n, temperature=0)
        return out["usage"]["completion_tokens"]
    finally:
        llm.close()


@pytest.mark.parametrize("model,quant,layers", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_family_loads_and_generates(tmp_path, model, quant, layers):
    target = _small(model, layers)
    path = synthesize(target, quant, tmp_path / "m.gguf", vocab=target.vocab)
    assert _generate(path) >= 1


def test_default_model_generates(tmp_path, monkeypatch):
    from tokbench.synth import ensure_default_model

    monkeypatch.setenv("TOKBENCH_CACHE_DIR", str(tmp_path))
    path = ensure_default_model()
    mtime = path.stat().st_mtime_ns
    assert ensure_default_model() == path and path.stat().st_mtime_ns == mtime  # cached, not rewritten
    assert not list(path.parent.glob(".tmp-*"))
    reader = GGUFReader(path)
    assert reader.fields["llama.block_count"].contents() == DEFAULT_SPEC.n_layers
    assert _generate(path, n=16) == 16


def _quantize(src, dst, ftype):
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 2
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    assert rc == 0


def _types(path):
    return {t.name: t.tensor_type.name for t in GGUFReader(path).tensors}


@pytest.mark.parametrize(
    "model,quant,layers",
    [("llama-3.1-8b", "Q4_K_M", 8), ("qwen3-30b-a3b", "Q4_K_M", 2), ("qwen2.5-7b", "Q3_K_M", 3),
     ("llama-3.1-8b", "IQ4_XS", 2), ("gpt-oss-20b", "MXFP4_MOE", 2), ("qwen3-next-80b-a3b", "Q5_K_M", 4)],
)
def test_llamacpp_quantizer_picks_the_same_types(tmp_path, model, quant, layers):
    from tokbench.quant.presets import get_preset

    target = _small(model, layers)
    f16 = synthesize(target, "F16", tmp_path / "f16.gguf", vocab=target.vocab)
    _quantize(f16, tmp_path / "ref.gguf", get_preset(quant).ftype)
    ours = synthesize(target, quant, tmp_path / "ours.gguf", vocab=target.vocab)
    assert _types(ours) == _types(tmp_path / "ref.gguf")
