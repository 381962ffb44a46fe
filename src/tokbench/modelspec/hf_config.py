"""Build a ModelSpec from a Hugging Face config.json dict.

Like mlx-lm's ModelArgs, unknown keys are ignored; a missing required key, a wrong type or a
negative number is a UserError naming the key (never a traceback). Field meanings follow the
transformers config classes of each model_type; how llama.cpp lays the model out (which layers
slide, which are linear attention) follows its loader (src/models/<arch>.cpp).
"""

from __future__ import annotations

from typing import Any

from tokbench.errors import UserError
from tokbench.modelspec.check import check_spec
from tokbench.modelspec.hf_families import DEEPSEEK_LIKE, NEW_ARCHS, family_fields, gguf_arch, moe_keys
from tokbench.modelspec.model import ModelSpec

MAX_LAYERS = 512  # LLAMA_MAX_LAYERS (src/llama-hparams.h), as in spec/gguf_header.py

# Hugging Face model_type -> GGUF architecture name (what llama.cpp calls it).
GGUF_ARCH = {
    "llama": "llama",
    "mistral": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "qwen3_moe": "qwen3moe",
    "qwen3_next": "qwen3next",
    "qwen3_5_moe": "qwen35moe",
    "qwen3_5_moe_text": "qwen35moe",
    "gpt_oss": "gpt-oss",
    "deepseek_v2": "deepseek2",
    "deepseek_v3": "deepseek2",
    "gemma3": "gemma3",
    "gemma3_text": "gemma3",
    **NEW_ARCHS,
}

# HF layer_types values -> ModelSpec layer kinds.
_LAYER_TYPES = {
    "full_attention": "full",
    "sliding_attention": "sliding",
    "linear_attention": "linear",
}


class _Cfg:
    """Typed, validating access to one config dict; every error names the key."""

    def __init__(self, cfg: dict[str, Any], name: str) -> None:
        self.cfg, self.name = cfg, name

    def fail(self, key: str, what: str) -> UserError:
        return UserError(f"{self.name}: config.json '{key}' {what}")

    def int(self, key: str, default: int | None = None, positive: bool = False) -> int:
        """Integer ``key``; ``default`` when absent or null (required when default is None)."""
        value = self.cfg.get(key)
        if value is None:
            if default is None:
                raise UserError(f"{self.name}: config.json has no '{key}'")
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(key, f"must be a non-negative integer, got {value!r}")
        if positive and value == 0:
            raise self.fail(key, "must be positive, got 0")
        return value

    def float(self, key: str, default: float) -> float:
        value = self.cfg.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise self.fail(key, f"must be a non-negative number, got {value!r}")
        return float(value)

    def float_in(self, parent: str, key: str) -> float:
        """A number nested one level down (``rope_parameters.partial_rotary_factor``); 0.0 when absent."""
        value = self.dict(parent).get(key)
        if value is None:
            return 0.0
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise self.fail(f"{parent}.{key}", f"must be a non-negative number, got {value!r}")
        return float(value)

    def bool(self, key: str, default: bool) -> bool:
        value = self.cfg.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def dict(self, key: str) -> dict[str, Any]:
        value = self.cfg.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must be an object, got {type(value).__name__}")
        return value


def _layer_types(c: _Cfg, n_layers: int) -> tuple[str, ...] | None:
    """Per-layer kinds from an explicit ``layer_types`` list, or None when the config has none."""
    value = c.cfg.get("layer_types")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise c.fail("layer_types", "must be a list of strings")
    if len(value) != n_layers:
        raise c.fail("layer_types", f"has {len(value)} entries for {n_layers} layers (num_hidden_layers)")
    bad = sorted(set(value) - set(_LAYER_TYPES))
    if bad:
        raise c.fail("layer_types", f"has unknown layer types {bad} (known: {', '.join(_LAYER_TYPES)})")
    return tuple(_LAYER_TYPES[v] for v in value)


def _hybrid_kinds(c: _Cfg, n_layers: int) -> tuple[str, ...]:
    """Qwen3-Next / Qwen3.5: full attention at layers where (i + 1) % full_attention_interval == 0."""
    kinds = _layer_types(c, n_layers)
    if kinds is not None:
        return kinds
    interval = c.int("full_attention_interval", 4, positive=True)
    return tuple("full" if (i + 1) % interval == 0 else "linear" for i in range(n_layers))


def _sliding_kinds(c: _Cfg, n_layers: int, model_type: str) -> tuple[str, ...]:
    """gpt-oss: even layers slide (llama.cpp pattern 2); Gemma 3: 5 sliding then 1 global (pattern 6)."""
    kinds = _layer_types(c, n_layers)
    if kinds is not None:
        return kinds
    if model_type == "gpt_oss":
        return tuple("sliding" if i % 2 == 0 else "full" for i in range(n_layers))
    pattern = c.int("sliding_window_pattern", 5 if model_type.startswith("gemma4") else 6, positive=True)
    # llama_hparams::set_swa_pattern: layer il slides when il % n_pattern < n_pattern - 1.
    return tuple("sliding" if i % pattern < pattern - 1 else "full" for i in range(n_layers))


def _rope_sections(c: _Cfg) -> tuple[int, ...]:
    """M-RoPE sections (Qwen3.5: rope_scaling / rope_parameters 'mrope_section'), padded to 4 as in GGUF."""
    for key in ("rope_parameters", "rope_scaling"):
        section = c.dict(key).get("mrope_section")
        if section is None:
            continue
        if not isinstance(section, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in section):
            raise c.fail(f"{key}.mrope_section", "must be a list of non-negative integers")
        return tuple(section + [0] * (4 - len(section)))[:4]
    return ()


def _partial_rope(c: _Cfg, head_dim: int) -> int:
    """Rotary dims when only part of each head rotates (partial_rotary_factor, top level or in
    rope_parameters); 0 when the whole head rotates."""
    factor = c.float("partial_rotary_factor", 0.0) or c.float_in("rope_parameters", "partial_rotary_factor")
    return int(head_dim * factor) if 0 < factor < 1 else 0


def _unwrap(cfg: dict[str, Any]) -> dict[str, Any]:
    """Multimodal wrappers (Gemma 3, Qwen3.5) keep the language model under text_config."""
    text = cfg.get("text_config")
    if isinstance(text, dict):
        merged = {k: v for k, v in cfg.items() if k != "text_config"}
        merged.update(text)
        merged["model_type"] = text.get("model_type") or cfg.get("model_type")
        return merged
    return cfg


def _moe_fields(c: _Cfg, model_type: str) -> dict[str, Any]:
    """Expert counts and widths (names differ per family)."""
    keys = moe_keys(model_type)
    if keys is None:
        width = "intermediate_size" if model_type == "gpt_oss" else "moe_intermediate_size"
        keys = ("num_local_experts" if model_type == "gpt_oss" else "num_experts", "num_experts_per_tok", width,
                "n_shared_experts" if model_type in DEEPSEEK_LIKE else "shared_expert_intermediate_size")
    experts_key, used_key, width_key, shared_key = keys
    n_experts = c.int(experts_key, 0)
    if not n_experts:
        return {}
    used = c.int(used_key, positive=True)
    if used > n_experts:
        raise c.fail(used_key, f"({used}) exceeds the number of experts ({n_experts})")
    expert_ffn = c.int(width_key, positive=True)
    if shared_key == "n_shared_experts":
        shared = c.int("n_shared_experts", 0) * expert_ffn
    else:
        shared = c.int(shared_key, 0) if shared_key else 0
    return {"n_experts": n_experts, "n_experts_used": used, "expert_ffn": expert_ffn, "shared_expert_ffn": shared}


def _hybrid_fields(c: _Cfg, n_layers: int, head_dim: int) -> dict[str, Any]:
    """Qwen3-Next / Qwen3.5 (MoE and dense): Gated DeltaNet layers and gated full attention."""
    return {
        "qk_norm": True,
        "attn_output_gate": c.bool("attn_output_gate", True),
        "layer_kinds": _hybrid_kinds(c, n_layers),
        "linear_k_heads": c.int("linear_num_key_heads", positive=True),
        "linear_v_heads": c.int("linear_num_value_heads", positive=True),
        "linear_k_dim": c.int("linear_key_head_dim", positive=True),
        "linear_v_dim": c.int("linear_value_head_dim", positive=True),
        "conv_kernel": c.int("linear_conv_kernel_dim", positive=True),
        "rope_dim": _partial_rope(c, head_dim) or head_dim // 4,  # Qwen3-Next/3.5 rotate 25% of each head
        "rope_sections": _rope_sections(c),
    }


def _mla_fields(c: _Cfg, n_layers: int) -> dict[str, Any]:
    """DeepSeek multi-head latent attention (DeepSeek V2/V3, Kimi K2, GLM-4.7-Flash)."""
    n_heads = c.int("num_attention_heads", positive=True)
    nope, rope = c.int("qk_nope_head_dim", positive=True), c.int("qk_rope_head_dim", positive=True)
    return {
        "layer_kinds": ("mla",) * n_layers,
        "head_dim": nope + rope,
        "n_kv_heads": n_heads,  # MLA decompresses to one K/V per query head
        "q_lora_rank": c.int("q_lora_rank", 0),
        "kv_lora_rank": c.int("kv_lora_rank", positive=True),
        "qk_rope_dim": rope,
        "qk_nope_dim": nope,
        "v_head_dim": c.int("v_head_dim", positive=True),
        "n_dense_layers": min(c.int("first_k_dense_replace", 0), n_layers),
    }


def _family_fields(c: _Cfg, model_type: str, n_layers: int, n_heads: int, head_dim: int) -> dict[str, Any]:
    """Fields specific to one family: layer kinds, linear attention, MLA, sliding windows."""
    if model_type in ("qwen3_next", "qwen3_5_moe", "qwen3_5_moe_text"):
        return _hybrid_fields(c, n_layers, head_dim)
    if model_type == "gpt_oss":
        return {"qkv_bias": True, "layer_kinds": _sliding_kinds(c, n_layers, model_type), "sliding_window": c.int("sliding_window", positive=True)}
    if model_type in ("gemma3", "gemma3_text"):
        window = c.int("sliding_window", 0)
        kinds = _sliding_kinds(c, n_layers, model_type) if window else ("full",) * n_layers
        return {"qk_norm": True, "layer_kinds": kinds, "sliding_window": window}
    if model_type in ("deepseek_v2", "deepseek_v3"):
        return {**_mla_fields(c, n_layers), "n_mtp_layers": c.int("num_nextn_predict_layers", 0),
                "expert_probs_bias": c.cfg.get("topk_method", "noaux_tc" if model_type == "deepseek_v3" else "") == "noaux_tc"}
    return {"qk_norm": model_type in ("qwen3", "qwen3_moe")}


def spec_from_config(cfg: dict[str, Any], name: str, source: str = "config.json") -> ModelSpec:
    """ModelSpec from a config.json dict (``name`` labels errors and the spec)."""
    if not isinstance(cfg, dict):
        raise UserError(f"{name}: config.json must be a JSON object")
    cfg = _unwrap(cfg)
    model_type = cfg.get("model_type")
    if not isinstance(model_type, str) or model_type not in GGUF_ARCH:  # a list here was a TypeError (tests/fuzz)
        raise UserError(f"{name}: model_type {model_type!r} is not supported (supported: {', '.join(sorted(GGUF_ARCH))})")
    c = _Cfg(cfg, name)
    hidden = c.int("hidden_size", positive=True)
    n_layers = c.int("num_hidden_layers", positive=True)
    if n_layers > MAX_LAYERS:  # per-layer tuples of a hostile 2^63 would exhaust memory (tests/fuzz)
        raise c.fail("num_hidden_layers", f"{n_layers} exceeds llama.cpp's limit of {MAX_LAYERS}")
    n_heads = c.int("num_attention_heads", positive=True)
    head_dim = c.int("head_dim", 0) or hidden // n_heads
    n_kv_heads = c.int("num_key_value_heads", n_heads, positive=True)
    if n_heads % n_kv_heads:
        raise c.fail("num_key_value_heads", f"({n_kv_heads}) must divide num_attention_heads ({n_heads})")
    moe = _moe_fields(c, model_type)
    fields: dict[str, Any] = {
        "name": name,
        "arch": gguf_arch(c, model_type) if model_type in NEW_ARCHS else GGUF_ARCH[model_type],
        "n_layers": n_layers,
        "hidden": hidden,
        "n_heads": n_heads,
        "n_kv_heads": n_kv_heads,
        "head_dim": head_dim,
        "vocab": c.int("vocab_size", positive=True),
        # gpt-oss's intermediate_size is its expert width; every other MoE here has no dense FFN
        # except DeepSeek's leading dense layers.
        "intermediate": 0 if model_type == "gpt_oss" or (moe and model_type not in DEEPSEEK_LIKE) else c.int("intermediate_size", 0 if model_type in NEW_ARCHS else None, positive=model_type not in NEW_ARCHS),
        # Gemma's transformers config ties by default; the others default to separate heads.
        "tie_embeddings": c.bool("tie_word_embeddings", model_type in ("gemma3", "gemma3_text")),
        "qkv_bias": model_type == "qwen2" or c.bool("attention_bias", False),
        "context_length": c.int("max_position_embeddings", 0),
        "source": source,
        **moe,
    }
    new = family_fields(c, model_type, n_layers, head_dim, moe, (_partial_rope, _sliding_kinds, _hybrid_fields, _mla_fields))
    fields.update(new if new is not None else _family_fields(c, model_type, n_layers, n_heads, head_dim))
    try:
        spec = ModelSpec(**fields)
    except ValueError as exc:  # e.g. layer kinds that disagree with num_hidden_layers
        raise UserError(f"{name}: inconsistent config.json ({exc})") from None
    return check_spec(spec, name, "config")
