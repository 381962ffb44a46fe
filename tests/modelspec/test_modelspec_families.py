"""The architectures added for current models: layouts llama.cpp loads, headers that round-trip,
config.json fields as the catalog's models publish them, and a clear error for unknown ones."""

from __future__ import annotations

import dataclasses

import pytest

from tiny_families import tiny_families
from tokbench.errors import UserError
from tokbench.modelspec import load_spec
from tokbench.modelspec.gguf_header import spec_from_gguf
from tokbench.modelspec.hf_config import spec_from_config
from tokbench.modelspec.tensors import known_architectures, tensors_for
from tokbench.synth import synthesize

FAMILIES = sorted(tiny_families())


@pytest.mark.engine
@pytest.mark.parametrize("key", FAMILIES)
def test_llama_cpp_loads_counts_and_evaluates(key, tmp_path):
    llama_cpp = pytest.importorskip("llama_cpp")
    spec = tiny_families()[key]
    path = synthesize(spec, "F16", tmp_path / "m.gguf", vocab=spec.vocab)
    llm = llama_cpp.Llama(str(path), n_ctx=128, n_threads=1, verbose=False)
    try:
        assert llama_cpp.llama_model_n_params(llm.model) == spec.n_params()  # tensor for tensor
        tokens = llm.tokenize(b"hello world")
        llm.eval(tokens)  # the graph runs: shapes agree beyond loading
        llm.eval([5])
    finally:
        llm.close()


@pytest.mark.parametrize("key", FAMILIES)
def test_gguf_round_trip(key, tmp_path):
    spec = tiny_families()[key]
    read = spec_from_gguf(synthesize(spec, "F16", tmp_path / "m.gguf", vocab=spec.vocab))
    same = dataclasses.replace(read, name=spec.name, source=spec.source, weights_bytes=None, file_type=None,
                               tensor_list=None)
    assert same == spec
    assert [(t.name, t.shape) for t in read.tensors()] == [(t.name, t.shape) for t in spec.tensors()]


def test_mtp_blocks_in_a_file_are_counted_apart(tmp_path):
    import gguf
    import numpy as np

    spec = tiny_families()["glm4moe"]
    path = synthesize(spec, "F16", tmp_path / "m.gguf", vocab=spec.vocab)
    reader = gguf.GGUFReader(path)
    w = gguf.GGUFWriter(str(tmp_path / "mtp.gguf"), "glm4moe")
    for f in reader.fields.values():
        if f.name.startswith("GGUF.") or f.name in ("glm4moe.block_count", "general.architecture"):
            continue
        w.add_key_value(f.name, f.contents(), f.types[0], f.types[-1] if f.types[0] == gguf.GGUFValueType.ARRAY else None)
    w.add_block_count(spec.n_layers + 1)
    w.add_uint32("glm4moe.nextn_predict_layers", 1)
    for t in reader.tensors:
        w.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
    w.add_tensor("blk.4.nextn.eh_proj.weight", np.zeros((256, 512), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    read = spec_from_gguf(tmp_path / "mtp.gguf")
    assert read.n_layers == 4 and read.n_mtp_layers == 1
    assert dict(read.apart) == {"mtp": 256 * 512 * 2}
    assert read.weights_bytes == spec_from_gguf(path).weights_bytes


@pytest.mark.parametrize("model, arch, kinds", [
    ("qwen3.5-27b", "qwen35", {"linear": 48, "full": 16}),
    ("qwen3.5-122b-a10b", "qwen35moe", {"linear": 36, "full": 12}),
    ("glm-4.7", "glm4moe", {"full": 92}),
    ("glm-4.7-flash", "deepseek2", {"mla": 47}),
    ("kimi-k2", "deepseek2", {"mla": 61}),
    ("deepseek-v3.2", "deepseek32", {"dsa": 61}),
    ("minimax-m2", "minimax-m2", {"full": 62}),
    ("llama-4-scout-17b-16e", "llama4", {"sliding": 36, "full": 12}),
    ("nemotron-3-nano-30b-a3b", "nemotron_h_moe", {"mamba": 23, "ffn": 23, "full": 6}),
    ("gemma-4-26b-a4b", "gemma4", {"sliding": 25, "full": 5}),
])
def test_catalog_configs_map_to_llama_cpp_layouts(model, arch, kinds):
    spec = load_spec(model)
    assert spec.arch == arch
    assert {k: spec.kinds.count(k) for k in set(spec.kinds)} == kinds


def test_family_details():
    glm = load_spec("glm-4.7")
    assert glm.qkv_bias and glm.qk_norm and glm.rope_dim == 64 and glm.n_dense_layers == 3 and glm.n_mtp_layers == 1
    assert glm.shared_expert_ffn == 1536 and glm.expert_probs_bias
    flash = load_spec("glm-4.7-flash")
    assert (flash.q_lora_rank, flash.kv_lora_rank, flash.qk_nope_dim, flash.v_head_dim) == (768, 512, 192, 256)
    mm = load_spec("minimax-m2")
    assert mm.qk_norm_full and not mm.qk_norm and mm.rope_dim == 64 and mm.intermediate == 0 and mm.expert_ffn == 1536
    scout, mav = load_spec("llama-4-scout-17b-16e"), load_spec("llama-4-maverick-17b-128e")
    assert scout.sliding_window == 8192 and scout.moe_layer_step == 1 and scout.shared_expert_ffn == 8192
    assert mav.moe_layer_step == 2 and not mav.is_moe_layer(0) and mav.is_moe_layer(1) and mav.intermediate == 16384
    nemo = load_spec("nemotron-3-nano-30b-a3b")
    assert not nemo.gated_ffn and nemo.linear_v_heads * nemo.linear_v_dim == 4096 and nemo.linear_k_heads == 8
    assert "ffn_gate_exps.weight" not in {t.name.split(".", 2)[-1] for t in nemo.tensors()}
    g4 = load_spec("gemma-4-26b-a4b")
    assert (g4.head_dim, g4.head_dim_swa, g4.n_kv_heads, g4.n_kv_heads_swa) == (512, 256, 2, 8)
    assert g4.attn_k_eq_v and g4.ffn_with_moe and g4.tie_embeddings
    names = {t.name for t in g4.tensors()}
    assert "blk.5.attn_v.weight" not in names and "blk.0.attn_v.weight" in names  # K doubles as V in global layers
    ds = load_spec("deepseek-v3.2")
    assert (ds.index_n_heads, ds.index_head_dim, ds.index_topk) == (64, 128, 2048)


def test_nemotron_vocab_padded_like_llama_cpp():
    cfg = dict(load_spec("nemotron-3-nano-30b-a3b").__dict__)  # sanity: the catalog vocab is already a multiple of 8
    assert cfg["vocab"] % 8 == 0
    from tokbench.catalog.models import catalog

    raw = dict(catalog()["nemotron-3-nano-30b-a3b"]["config"], vocab_size=131075)
    assert spec_from_config(raw, "n").vocab == 131080


def test_unknown_architecture_names_the_known_ones():
    with pytest.raises(UserError) as err:
        spec_from_config({"model_type": "falcon_mamba", "hidden_size": 64}, "x")
    msg = str(err.value)
    assert "\n" not in msg and "nemotron_h" in msg and "gemma4" in msg and "glm4_moe" in msg
    spec = dataclasses.replace(tiny_families()["glm4moe"], arch="rwkv7")
    with pytest.raises(ValueError, match="known: .*gemma4.*nemotron_h"):
        tensors_for(spec)
    assert {"qwen35", "glm4moe", "minimax-m2", "llama4", "nemotron_h", "nemotron_h_moe", "deepseek32",
            "gemma4"} <= set(known_architectures())


def test_unknown_gguf_architecture_exits_2_with_the_known_ones(tmp_path):
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(tmp_path / "x.gguf"), "rwkv7")
    w.add_block_count(1)
    w.add_embedding_length(64)
    w.add_head_count(1)
    w.add_tensor("token_embd.weight", np.zeros((16, 64), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "tokbench", "plan", str(tmp_path / "x.gguf")], capture_output=True,
                       text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "'rwkv7'" in r.stderr and "nemotron_h" in r.stderr and "qwen35moe" in r.stderr
