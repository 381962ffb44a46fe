"""config.json -> ModelSpec: per-family fields, layer kinds, and one-line errors naming the key."""

from __future__ import annotations

import json

import pytest

from tokbench.catalog.models import catalog
from tokbench.errors import UserError
from tokbench.modelspec import load_spec
from tokbench.modelspec.hf_config import spec_from_config


def cfg(model: str, **changes) -> dict:
    out = dict(catalog()[model]["config"])
    for key, value in changes.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def test_hybrid_kinds_and_linear_fields():
    spec = load_spec("qwen3-next-80b-a3b")
    assert spec.kinds.count("full") == 12 and spec.kinds[3] == "full" and spec.kinds[0] == "linear"
    assert (spec.linear_k_heads, spec.linear_v_heads, spec.linear_k_dim, spec.conv_kernel) == (16, 32, 128, 4)
    assert spec.attn_output_gate and spec.qk_norm and spec.rope_dim == 64 and spec.n_rot == 64
    assert spec.shared_expert_ffn == 512 and spec.context_length == 262144
    # layer_types wins over full_attention_interval
    types = ["linear_attention"] * 47 + ["full_attention"]
    assert spec_from_config(cfg("qwen3-next-80b-a3b", layer_types=types), "x").kinds.count("full") == 1
    assert spec_from_config(cfg("qwen3-next-80b-a3b", full_attention_interval=2), "x").kinds.count("full") == 24


def test_qwen35_wrapped_in_text_config():
    inner = cfg("qwen3.5-397b-a17b", model_type="qwen3_5_moe_text")
    spec = spec_from_config({"model_type": "qwen3_5_moe", "text_config": inner, "vision_config": {}}, "q35")
    assert spec.arch == "qwen35moe" and spec.kinds.count("full") == 15
    assert spec.rope_sections == (11, 11, 10, 0)


def test_gpt_oss_sliding_default_and_explicit():
    s20, s120 = load_spec("gpt-oss-20b"), load_spec("gpt-oss-120b")
    assert s20.kinds == s120.kinds[:24]  # default alternation equals the explicit layer_types
    assert s20.sliding_window == 128 and s20.qkv_bias and s20.intermediate == 0 and s20.expert_ffn == 2880


def test_gemma3_pattern_and_tie_default():
    spec = load_spec("gemma-3-27b")
    assert spec.kinds[:6] == ("sliding",) * 5 + ("full",) and spec.sliding_window == 1024
    assert spec_from_config(cfg("gemma-3-27b", tie_word_embeddings=...), "g").tie_embeddings
    text = cfg("gemma-3-27b", model_type="gemma3_text")
    assert spec_from_config({"model_type": "gemma3", "text_config": text}, "g").n_layers == 62


def test_deepseek_mla_fields():
    spec = load_spec("deepseek-v3")
    assert spec.kinds == ("mla",) * 61 and spec.n_dense_layers == 3
    assert (spec.kv_lora_rank, spec.qk_rope_dim, spec.qk_nope_dim, spec.v_head_dim, spec.head_dim) == (512, 64, 128, 128, 192)
    assert spec.shared_expert_ffn == 2048 and spec.expert_probs_bias and spec.n_rot == 64
    lite = spec_from_config(cfg("deepseek-v3", q_lora_rank=None, model_type="deepseek_v2", topk_method="greedy"), "v2")
    assert lite.q_lora_rank == 0 and not lite.expert_probs_bias


def test_mistral_maps_to_llama():
    spec = spec_from_config(cfg("llama-3.1-8b", model_type="mistral"), "m")
    assert spec.arch == "llama" and spec.kinds == ("full",) * 32


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"hidden_size": ...}, "hidden_size"),
        ({"hidden_size": "4096"}, "hidden_size"),
        ({"num_hidden_layers": -1}, "num_hidden_layers"),
        ({"num_attention_heads": 0}, "num_attention_heads"),
        ({"num_key_value_heads": 5}, "num_key_value_heads"),
        ({"vocab_size": 1.5}, "vocab_size"),
        ({"tie_word_embeddings": "yes"}, "tie_word_embeddings"),
        ({"intermediate_size": True}, "intermediate_size"),
    ],
)
def test_bad_values_name_the_key(changes, key):
    with pytest.raises(UserError, match=f"'{key}'") as err:
        spec_from_config(cfg("llama-3.1-8b", **changes), "m")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "model, changes, key",
    [
        ("qwen3-next-80b-a3b", {"linear_num_value_heads": ...}, "linear_num_value_heads"),
        ("qwen3-next-80b-a3b", {"layer_types": ["full_attention"] * 3}, "layer_types"),
        ("qwen3-next-80b-a3b", {"layer_types": ["mamba"] * 48}, "layer_types"),
        ("qwen3-next-80b-a3b", {"full_attention_interval": 0}, "full_attention_interval"),
        ("qwen3-next-80b-a3b", {"num_experts_per_tok": 1000}, "num_experts_per_tok"),
        ("qwen3-next-80b-a3b", {"partial_rotary_factor": "a"}, "partial_rotary_factor"),
        ("qwen3.5-397b-a17b", {"rope_parameters": {"mrope_section": "x"}}, "rope_parameters.mrope_section"),
        ("gpt-oss-20b", {"sliding_window": ...}, "sliding_window"),
        ("deepseek-v3", {"kv_lora_rank": ...}, "kv_lora_rank"),
        ("deepseek-v3", {"moe_intermediate_size": None}, "moe_intermediate_size"),
        ("gemma-3-27b", {"sliding_window_pattern": -6}, "sliding_window_pattern"),
    ],
)
def test_family_errors_name_the_key(model, changes, key):
    with pytest.raises(UserError, match=f"'{key}'"):
        spec_from_config(cfg(model, **changes), model)


def test_unsupported_model_type_and_non_object():
    with pytest.raises(UserError, match="model_type 'bert' is not supported"):
        spec_from_config({"model_type": "bert"}, "b")
    with pytest.raises(UserError, match="JSON object"):
        spec_from_config([1, 2], "b")  # type: ignore[arg-type]


def test_load_spec_config_file_errors(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="not a readable config.json"):
        load_spec(str(bad))
    bad.write_text(json.dumps(cfg("qwen2.5-7b", num_hidden_layers=...)))
    with pytest.raises(UserError, match="num_hidden_layers"):
        load_spec(str(tmp_path))
