"""config.json fields of the families added for current models (issue 12), as llama.cpp maps them.

Each function returns the ModelSpec fields one family adds or overrides, read from its Hugging Face
config.json (field names from the transformers / mlx-lm ModelArgs of that model_type). How a field
lands in the GGUF follows llama.cpp's converter (``conversion/{glm,minimax,llama,nemotron,gemma,
deepseek}.py`` in the tree vendored by llama-cpp-python 0.3.36): Nemotron-H's vocabulary is padded
to a multiple of 8, Llama 4's chunked layers follow llama.cpp's fixed 3-chunked:1-full pattern,
Gemma 4's global layers take ``global_head_dim`` / ``num_global_key_value_heads``.
"""

from __future__ import annotations

from typing import Any

# HF model_type -> GGUF architecture for the families of this module.
NEW_ARCHS = {
    "qwen3_5": "qwen35",
    "qwen3_5_text": "qwen35",
    "glm4_moe": "glm4moe",
    "glm4_moe_lite": "deepseek2",  # GLM-4.7-Flash: DeepSeek-style MLA (conversion/glm.py Glm4MoeLiteModel)
    "kimi_k2": "deepseek2",  # Kimi K2: DeepseekV3ForCausalLM under its own model_type
    "deepseek_v32": "deepseek32",
    "minimax_m2": "minimax-m2",
    "minimax": "minimax-m2",  # mlx-lm's name for the same model class
    "llama4": "llama4",
    "llama4_text": "llama4",
    "nemotron_h": "nemotron_h",
    "gemma4": "gemma4",
    "gemma4_text": "gemma4",
}
# Families whose MLA attention and experts follow deepseek_v3's config keys.
DEEPSEEK_LIKE = ("deepseek_v2", "deepseek_v3", "deepseek_v32", "glm4_moe_lite", "kimi_k2")


def gguf_arch(c, model_type: str) -> str:
    """The GGUF architecture for a model_type of this module (Nemotron-H with experts is its own)."""
    if model_type == "nemotron_h" and c.cfg.get("num_experts_per_tok") is not None:
        return "nemotron_h_moe"
    return NEW_ARCHS[model_type]


def moe_keys(model_type: str) -> tuple[str, str, str, str] | None:
    """(experts, used, expert width, shared width) config keys; shared "n_shared_experts" means a count
    of expert-wide shared experts. None for the families :mod:`hf_config` handles itself."""
    if model_type in DEEPSEEK_LIKE or model_type == "glm4_moe":
        return "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size", "n_shared_experts"
    if model_type in ("minimax_m2", "minimax"):
        return "num_local_experts", "num_experts_per_tok", "intermediate_size", "shared_intermediate_size"
    if model_type in ("llama4", "llama4_text"):
        return "num_local_experts", "num_experts_per_tok", "intermediate_size", ""
    if model_type == "nemotron_h":
        return "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size", "moe_shared_expert_intermediate_size"
    if model_type in ("gemma4", "gemma4_text"):
        return "num_experts", "top_k_experts", "moe_intermediate_size", ""
    return None


def _glm4moe(c, n_layers: int, head_dim: int, partial_rope) -> dict[str, Any]:
    return {
        "qkv_bias": c.bool("attention_bias", False),
        "qk_norm": c.bool("use_qk_norm", False),
        "rope_dim": partial_rope(c, head_dim),
        "n_dense_layers": min(c.int("first_k_dense_replace", 0), n_layers),
        "expert_probs_bias": True,  # sigmoid routing with e_score_correction_bias (noaux_tc)
        "intermediate": c.int("intermediate_size", 0),
        "n_mtp_layers": c.int("num_nextn_predict_layers", 0),
    }


def _minimax(c, head_dim: int) -> dict[str, Any]:
    rot = c.int("rotary_dim", 0)
    return {
        "qk_norm_full": c.bool("use_qk_norm", True),
        "rope_dim": rot if rot and rot != head_dim else 0,
        "expert_probs_bias": c.bool("use_routing_bias", True),
        "intermediate": 0,
        "n_mtp_layers": c.int("num_mtp_modules", 0),
    }


def _llama4(c, n_layers: int, moe: dict) -> dict[str, Any]:
    chunk = c.int("attention_chunk_size", 0)
    types = c.cfg.get("layer_types")
    all_full = isinstance(types, list) and all(t == "full_attention" for t in types)
    kinds = ("full",) * n_layers if all_full or not chunk else \
        tuple("sliding" if i % 4 < 3 else "full" for i in range(n_layers))  # llama.cpp load_swa_pattern(ml, 4)
    return {
        "layer_kinds": kinds,
        "sliding_window": chunk if "sliding" in kinds else 0,
        "moe_layer_step": c.int("interleave_moe_layer_step", 1, positive=True),
        "intermediate": c.int("intermediate_size_mlp", 0),
        "shared_expert_ffn": moe.get("expert_ffn", 0),  # one shared expert as wide as a routed one
        "qkv_bias": c.bool("attention_bias", False),
    }


def _nemotron_kinds(c, n_layers: int) -> tuple[str, ...]:
    """hybrid_override_pattern (M mamba, * attention, - MLP, E MoE) or a layers_block_type list."""
    pattern = c.cfg.get("hybrid_override_pattern") or c.cfg.get("layers_block_type")
    names = {"M": "mamba", "*": "full", "-": "ffn", "E": "ffn", "mamba": "mamba", "attention": "full",
             "mlp": "ffn", "moe": "ffn"}
    if not isinstance(pattern, (str, list)) or len(pattern) != n_layers:
        raise c.fail("hybrid_override_pattern", f"must give one of M, *, -, E for each of the {n_layers} layers")
    bad = sorted({p for p in pattern if p not in names})
    if bad:
        raise c.fail("hybrid_override_pattern", f"has unknown layer types {bad}")
    return tuple(names[p] for p in pattern)


def _nemotron_h(c, n_layers: int, moe: dict) -> dict[str, Any]:
    vocab = c.int("vocab_size", positive=True)
    return {
        "layer_kinds": _nemotron_kinds(c, n_layers),
        "head_dim": c.int("head_dim", 0) or c.int("attention_head_dim", positive=True),
        "linear_v_heads": c.int("mamba_num_heads", positive=True),
        "linear_v_dim": c.int("mamba_head_dim", positive=True),
        "linear_k_heads": c.int("n_groups", positive=True),
        "linear_k_dim": c.int("ssm_state_size", positive=True),
        "conv_kernel": c.int("conv_kernel", positive=True),
        "gated_ffn": False,  # squared-ReLU MLPs: up and down only
        "vocab": -(-vocab // 8) * 8,  # llama.cpp's converter pads the vocabulary to a multiple of 8
        "intermediate": 0 if moe else c.int("intermediate_size", positive=True),
        "expert_probs_bias": bool(moe),
        "shared_expert_ffn": moe.get("shared_expert_ffn", 0),
        "n_mtp_layers": c.int("num_nextn_predict_layers", 0) if moe else 0,
    }


def _gemma4(c, n_layers: int, moe: dict, sliding_kinds) -> dict[str, Any]:
    window = c.int("sliding_window", 0)
    kinds = sliding_kinds(c, n_layers, "gemma4") if window else ("full",) * n_layers
    swa_dim, swa_kv = c.int("head_dim", positive=True), c.int("num_key_value_heads", positive=True)
    return {
        "qk_norm": True,
        "layer_kinds": kinds,
        "sliding_window": window,
        "head_dim": c.int("global_head_dim", 0) or swa_dim,
        "n_kv_heads": c.int("num_global_key_value_heads", 0) or swa_kv,
        "head_dim_swa": swa_dim,
        "n_kv_heads_swa": swa_kv,
        "attn_k_eq_v": c.bool("attention_k_eq_v", False),
        "kv_shared_layers": min(c.int("num_kv_shared_layers", 0), n_layers),
        "wide_ffn_shared": c.bool("use_double_wide_mlp", False),
        "per_layer_embd": c.int("hidden_size_per_layer_input", 0),
        "ffn_with_moe": bool(moe),
        "intermediate": c.int("intermediate_size", positive=True),
        "tie_embeddings": c.bool("tie_word_embeddings", True),
    }


def family_fields(c, model_type: str, n_layers: int, head_dim: int, moe: dict, helpers) -> dict[str, Any] | None:
    """Fields of one of this module's families, or None for a model_type it does not handle.
    ``helpers`` are hf_config's (partial_rope, sliding_kinds, hybrid_fields, mla_fields)."""
    partial_rope, sliding_kinds, hybrid_fields, mla_fields = helpers
    if model_type in ("qwen3_5", "qwen3_5_text"):
        return hybrid_fields(c, n_layers, head_dim)
    if model_type == "glm4_moe":
        return _glm4moe(c, n_layers, head_dim, partial_rope)
    if model_type in ("glm4_moe_lite", "kimi_k2", "deepseek_v32"):
        out = mla_fields(c, n_layers)
        out["expert_probs_bias"] = c.cfg.get("topk_method", "noaux_tc") == "noaux_tc"
        out["n_mtp_layers"] = c.int("num_nextn_predict_layers", 0)
        if model_type == "deepseek_v32":
            out.update(layer_kinds=("dsa",) * n_layers, index_n_heads=c.int("index_n_heads", positive=True),
                       index_head_dim=c.int("index_head_dim", positive=True), index_topk=c.int("index_topk", positive=True))
        return out
    if model_type in ("minimax_m2", "minimax"):
        return _minimax(c, head_dim)
    if model_type in ("llama4", "llama4_text"):
        return _llama4(c, n_layers, moe)
    if model_type == "nemotron_h":
        return _nemotron_h(c, n_layers, moe)
    if model_type in ("gemma4", "gemma4_text"):
        return _gemma4(c, n_layers, moe, sliding_kinds)
    return None
