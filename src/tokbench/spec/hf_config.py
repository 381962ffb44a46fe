"""Build a ModelSpec from a Hugging Face config.json dict.

Like mlx-lm's ModelArgs, unknown keys are ignored; missing required keys are a UserError naming them.
"""

from __future__ import annotations

from typing import Any

from tokbench.errors import UserError
from tokbench.spec.model import ModelSpec

# Hugging Face model_type -> GGUF architecture name (what llama.cpp calls it).
GGUF_ARCH = {
    "llama": "llama",
    "mistral": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "qwen3_moe": "qwen3moe",
}


def _req(cfg: dict[str, Any], key: str, name: str) -> Any:
    if key not in cfg:
        raise UserError(f"{name}: config.json has no '{key}'")
    return cfg[key]


def _int(cfg: dict[str, Any], key: str, name: str, default: int | None = None) -> int:
    value = cfg.get(key, default) if default is not None else _req(cfg, key, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UserError(f"{name}: config.json '{key}' must be a non-negative integer, got {value!r}")
    return value


def spec_from_config(cfg: dict[str, Any], name: str, source: str = "config.json") -> ModelSpec:
    """ModelSpec from a config.json dict (``name`` labels errors and the spec)."""
    if not isinstance(cfg, dict):
        raise UserError(f"{name}: config.json must be a JSON object")
    if isinstance(cfg.get("text_config"), dict):  # multimodal wrappers keep the LM under text_config
        cfg = {**cfg["text_config"], "model_type": cfg["text_config"].get("model_type", cfg.get("model_type"))}
    model_type = cfg.get("model_type")
    if model_type not in GGUF_ARCH:
        raise UserError(f"{name}: model_type '{model_type}' is not supported (supported: {', '.join(sorted(GGUF_ARCH))})")
    hidden = _int(cfg, "hidden_size", name)
    n_heads = _int(cfg, "num_attention_heads", name)
    if n_heads == 0:
        raise UserError(f"{name}: num_attention_heads must be positive")
    head_dim = _int(cfg, "head_dim", name, default=hidden // n_heads) or hidden // n_heads
    n_experts = _int(cfg, "num_experts", name, default=_int(cfg, "num_local_experts", name, default=0))
    return ModelSpec(
        name=name,
        arch=GGUF_ARCH[model_type],
        n_layers=_int(cfg, "num_hidden_layers", name),
        hidden=hidden,
        n_heads=n_heads,
        n_kv_heads=_int(cfg, "num_key_value_heads", name, default=n_heads),
        head_dim=head_dim,
        vocab=_int(cfg, "vocab_size", name),
        intermediate=_int(cfg, "intermediate_size", name, default=0),
        tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        qkv_bias=model_type == "qwen2" or bool(cfg.get("attention_bias", False)),
        qk_norm=model_type in ("qwen3", "qwen3_moe"),
        n_experts=n_experts,
        n_experts_used=_int(cfg, "num_experts_per_tok", name, default=0) if n_experts else 0,
        expert_ffn=_int(cfg, "moe_intermediate_size", name, default=0) if n_experts else 0,
        context_length=_int(cfg, "max_position_embeddings", name, default=0),
        source=source,
    )
