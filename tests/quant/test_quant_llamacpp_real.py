"""tokbench.quant.llamacpp against the real quantizer (llama-cpp-python's llama_model_quantize).

Small F16 GGUFs of several shapes are written with gguf.GGUFWriter, quantized to every llama.cpp
preset (the imatrix-only presets with a flat importance matrix), read back with gguf.GGUFReader,
and each tensor's type and byte size must equal the prediction made from the F16 header and the
preset name alone.
"""

from __future__ import annotations

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tokbench.quant.formats import tensor_nbytes
from tokbench.quant.llamacpp import requires_imatrix, source_type, tensor_types, weights_bytes
from tokbench.quant.presets import PRESETS, llamacpp_presets
from tokbench.modelspec.model import ModelSpec, TensorSpec

gguf = pytest.importorskip("gguf")
llama_cpp = pytest.importorskip("llama_cpp")

# ~170 real quantizations; most of the time is llama.cpp's one-time IQ1/IQ2/IQ3 grid set-up (about 20 s).
pytestmark = [pytest.mark.engine, pytest.mark.slow]

SPECS = {
    # dense GQA (n_gqa 4), 12 layers so the layer counters pass 10 (loader sorts blocks numerically)
    "gqa": ModelSpec(name="gqa", arch="llama", n_layers=12, hidden=256, n_heads=8, n_kv_heads=2, head_dim=32,
                     vocab=256, intermediate=512),
    # MHA with tied embeddings (token_embd takes the output tensor's rule)
    "mha": ModelSpec(name="mha", arch="llama", n_layers=8, hidden=256, n_heads=4, n_kv_heads=4, head_dim=64,
                     vocab=256, intermediate=256, tie_embeddings=True),
    # widths that don't divide 256 (hidden 320 -> 32-block fallbacks) or even 32 (ffn 1000 -> F16)
    "odd": ModelSpec(name="odd", arch="qwen2", n_layers=9, hidden=320, n_heads=5, n_kv_heads=1, head_dim=64,
                     vocab=256, intermediate=1000, qkv_bias=True),
    # MoE with exactly 8 experts (Q8_0 attn_k/attn_v, Q5_K attn_output rules)
    "moe8": ModelSpec(name="moe8", arch="qwen3moe", n_layers=8, hidden=256, n_heads=4, n_kv_heads=2, head_dim=64,
                      vocab=256, qk_norm=True, n_experts=8, n_experts_used=2, expert_ffn=256),
    # MoE with more experts (layer numbers parsed from names)
    "moe10": ModelSpec(name="moe10", arch="qwen3moe", n_layers=9, hidden=256, n_heads=4, n_kv_heads=1, head_dim=64,
                       vocab=256, qk_norm=True, n_experts=10, n_experts_used=2, expert_ffn=256),
}

# gguf 0.19's reader doesn't know GGML type Q2_0 (42), so its files can't be read back here.
SKIP = {"Q2_0"}


def write_f16_gguf(spec: ModelSpec, path: Path) -> None:
    """An F16 GGUF as convert_hf_to_gguf would write it (F32 for 1-D tensors, norms, routers)."""
    w = gguf.GGUFWriter(str(path), spec.arch)
    w.add_context_length(256)
    w.add_embedding_length(spec.hidden)
    w.add_block_count(spec.n_layers)
    w.add_feed_forward_length(spec.intermediate or spec.expert_ffn)
    w.add_head_count(spec.n_heads)
    w.add_head_count_kv(spec.n_kv_heads)
    w.add_key_length(spec.head_dim)
    w.add_value_length(spec.head_dim)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(1)
    if spec.n_experts:
        w.add_expert_count(spec.n_experts)
        w.add_expert_used_count(spec.n_experts_used)
        w.add_expert_feed_forward_length(spec.expert_ffn)
    # Zeros: tensor types and sizes don't depend on values, and zero blocks skip the quantizers' searches.
    for t in spec.tensors():
        dtype = np.float32 if source_type(t) == "F32" else np.float16
        w.add_tensor(t.name, np.zeros(t.shape[::-1], dtype=dtype))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def spec_from_file(spec: ModelSpec, path: Path) -> ModelSpec:
    """The spec with the tensor list (names, shapes, types) read back from a GGUF header."""
    reader = gguf.GGUFReader(str(path))
    tensors = tuple(TensorSpec(t.name, tuple(int(s) for s in t.shape), ggml_type=t.tensor_type.name)
                    for t in reader.tensors)
    return replace(spec, tensor_list=tensors)


def _flat_imatrix(spec: ModelSpec):
    """A flat importance matrix (all ones) for every matrix: lets llama.cpp make the IQ1/IQ2 presets."""
    entries, keep = [], []
    for t in spec.tensors():
        if len(t.shape) < 2:
            continue
        n = t.shape[0] * (t.shape[2] if len(t.shape) > 2 else 1)
        buf = (ctypes.c_float * n)(*([1.0] * n))
        keep.append(buf)
        entries.append(llama_cpp.llama_model_imatrix_data(t.name.encode(), buf, n))
    entries.append(llama_cpp.llama_model_imatrix_data(None, None, 0))
    arr = (llama_cpp.llama_model_imatrix_data * len(entries))(*entries)
    keep.append(arr)
    return arr, keep


def quantize(src: Path, dst: Path, preset: str, imatrix=None) -> int:
    """Run llama_model_quantize (one thread: the test runs two of them at once)."""
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = PRESETS[preset].ftype
    p.nthread = 1
    if imatrix is not None:
        p.imatrix = ctypes.cast(imatrix, ctypes.POINTER(llama_cpp.llama_model_imatrix_data))
    return llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(p))


def _read(path: Path) -> dict[str, tuple[str, int]]:
    return {t.name: (t.tensor_type.name, int(t.n_bytes)) for t in gguf.GGUFReader(str(path)).tensors}


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    """{(model, preset): (rc, {tensor: (type, bytes)} or None, imatrix used)} for every model x preset."""
    root = tmp_path_factory.mktemp("quant")
    jobs, keep = [], []
    for key, spec in SPECS.items():
        src = root / f"{key}-source.gguf"
        write_f16_gguf(spec, src)
        imat, bufs = _flat_imatrix(spec)
        keep.append(bufs)
        for preset in llamacpp_presets():
            if preset in SKIP:
                continue
            use_imat = PRESETS[preset].needs_imatrix
            jobs.append((key, preset, src, root / f"{key}-{preset}.gguf", imat if use_imat else None))

    def run(job):
        key, preset, src, dst, imat = job
        rc = quantize(src, dst, preset, imat)
        return (key, preset), (rc, _read(dst) if rc == 0 else None, imat is not None)

    workers = min(2, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:  # ctypes releases the GIL during the C call
        out = dict(pool.map(run, jobs))
    out["_src"] = {key: root / f"{key}-source.gguf" for key in SPECS}
    return out


CASES = [(k, p) for k in SPECS for p in llamacpp_presets() if p not in SKIP]


@pytest.mark.parametrize(("model", "preset"), CASES, ids=[f"{k}-{p}" for k, p in CASES])
def test_types_and_bytes_match_llama_quantize(quantized, model, preset):
    """Per-tensor types and bytes predicted from the F16 header equal the quantized file's."""
    rc, real, used_imatrix = quantized[(model, preset)]
    spec = spec_from_file(SPECS[model], quantized["_src"][model])
    try:
        predicted = tensor_types(spec, preset, imatrix=used_imatrix)
    except ValueError:
        # No fallback type exists (e.g. Q1_0's 128-blocks on 320-wide rows): llama.cpp must fail too.
        assert rc != 0
        return
    assert rc == 0, f"llama_model_quantize failed for {model} {preset}"
    assert {n: ty for n, (ty, _) in real.items()} == predicted
    predicted_bytes = {t.name: tensor_nbytes(predicted[t.name], t.shape) for t in spec.tensors()}
    assert predicted_bytes == {n: b for n, (_, b) in real.items()}
    total = sum(b for _, b in real.values())
    assert abs(weights_bytes(spec, preset, imatrix=used_imatrix) - total) <= 0.005 * total


@pytest.mark.parametrize("model", list(SPECS))
def test_spec_tensor_list_matches_converted_f16(quantized, model):
    """ModelSpec.tensors() with source_type() is exactly what the F16 file holds, and 'native' reads it."""
    spec = spec_from_file(SPECS[model], quantized["_src"][model])
    assert tensor_types(spec, None) == {t.name: t.ggml_type for t in spec.tensors()}
    assert tensor_types(SPECS[model], "F16") == tensor_types(spec, None)


@pytest.mark.parametrize("model", list(SPECS))
def test_requires_imatrix_matches_llama_refusal(quantized, tmp_path, model):
    """Presets predicted to need an importance matrix are refused by llama.cpp without one."""
    src = quantized["_src"][model]
    for preset in ("IQ2_XXS", "IQ3_XS", "Q2_K_S", "IQ3_S", "Q4_K_M"):
        rc = quantize(src, tmp_path / f"{preset}.gguf", preset)
        assert (rc != 0) == requires_imatrix(SPECS[model], preset), preset
