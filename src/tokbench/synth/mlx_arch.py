"""Per-architecture facts for MLX synthesis: mlx-lm parameter names, layouts and config.json keys.

Sources (mlx-lm 0.32 as installed): ``mlx_lm/models/{llama,qwen2,qwen3,qwen3_moe,gpt_oss,
gemma3_text,qwen3_next}.py``: the module attributes give the parameter names, ``ModelArgs`` the
config keys, ``sanitize`` the stored layout (we write the already-sanitized form, so mlx-lm's
sanitize leaves it alone). GGUF tensors (tokbench.modelspec.tensors) map one to one onto mlx-lm
parameters, except Qwen3-Next's ``attn_qkv`` + ``attn_gate``, which mlx-lm keeps fused as
``in_proj_qkvz`` (same input width, so quantized bytes add up exactly).
"""

from __future__ import annotations

from tokbench.errors import UserError
from tokbench.modelspec.model import ModelSpec, TensorSpec

_ATTN = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
}
_LLAMA = {
    **_ATTN, "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj", "ffn_gate_inp": "mlp.gate",
    "ffn_gate_exps": "mlp.switch_mlp.gate_proj", "ffn_up_exps": "mlp.switch_mlp.up_proj",
    "ffn_down_exps": "mlp.switch_mlp.down_proj",
}
# gpt_oss.py: MLPBlock has ``router`` and SwitchGLU ``experts`` (with biases); sinks are a bare array.
_GPT_OSS = {
    **_ATTN, "attn_norm": "input_layernorm", "post_attention_norm": "post_attention_layernorm",
    "attn_sinks": "self_attn.sinks", "ffn_gate_inp": "mlp.router", "ffn_gate_exps": "mlp.experts.gate_proj",
    "ffn_up_exps": "mlp.experts.up_proj", "ffn_down_exps": "mlp.experts.down_proj",
}
# gemma3_text.py: sandwich norms around attention and MLP.
_GEMMA3 = {
    **_LLAMA, "post_attention_norm": "post_attention_layernorm", "ffn_norm": "pre_feedforward_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
}
# qwen3_next.py: linear_attn (Gated DeltaNet) or self_attn per layer, sparse MoE with a gated shared expert.
_QWEN3_NEXT = {
    **_LLAMA, "post_attention_norm": "post_attention_layernorm",
    "attn_qkv": "linear_attn.in_proj_qkvz", "ssm_ba": "linear_attn.in_proj_ba", "ssm_conv1d": "linear_attn.conv1d",
    "ssm_dt": "linear_attn.dt_bias", "ssm_a": "linear_attn.A_log", "ssm_norm": "linear_attn.norm",
    "ssm_out": "linear_attn.out_proj", "ffn_gate_inp_shexp": "mlp.shared_expert_gate",
    "ffn_gate_shexp": "mlp.shared_expert.gate_proj", "ffn_up_shexp": "mlp.shared_expert.up_proj",
    "ffn_down_shexp": "mlp.shared_expert.down_proj",
}
# GGUF arch -> (mlx-lm model_type, layer names).
ARCHS: dict[str, tuple[str, dict[str, str]]] = {
    "llama": ("llama", _LLAMA), "qwen2": ("qwen2", _LLAMA), "qwen3": ("qwen3", _LLAMA),
    "qwen3moe": ("qwen3_moe", _LLAMA), "gpt-oss": ("gpt_oss", _GPT_OSS), "gemma3": ("gemma3_text", _GEMMA3),
    "qwen3next": ("qwen3_next", _QWEN3_NEXT),
}
_TOP = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
# Parameters that are bare arrays in mlx-lm (no .weight/.bias): the mapped name is the full name.
_BARE = {"attn_sinks", "ssm_dt", "ssm_a"}
MERGED_INTO = {"attn_gate": "attn_qkv"}  # qwen3next: the gate rows are appended to in_proj_qkvz


def hf_name(t: TensorSpec, arch: str) -> str:
    """mlx-lm name of a GGUF tensor (``blk.3.attn_q.weight`` -> ``model.layers.3.self_attn.q_proj.weight``)."""
    suffix = "bias" if t.is_bias else "weight"
    if t.layer is None:
        return f"{_TOP[t.role]}.{suffix}"
    base = f"model.layers.{t.layer}.{ARCHS[arch][1][t.role]}"
    return base if t.role in _BARE else f"{base}.{suffix}"


def mlx_shape(t: TensorSpec, spec: ModelSpec) -> tuple[int, ...]:
    """mlx-lm's shape of a GGUF tensor: GGUF order reversed ([experts,] out, in), with layout fixes."""
    shape = tuple(reversed(t.shape))
    if t.role == "ssm_conv1d":  # nn.Conv1d weight is (out_channels, kernel, in_channels / groups)
        return (*shape, 1)
    if t.role == "ffn_gate_inp_shexp":  # nn.Linear(hidden, 1): GGUF stores it 1-D
        return (1, *shape)
    if t.role == "attn_qkv" and spec.arch == "qwen3next":  # + attn_gate rows (value_dim)
        return (shape[0] + spec.linear_v_heads * spec.linear_v_dim, shape[1])
    return shape


def _gemma3_pattern(spec: ModelSpec) -> int:
    """gemma3_text.py's sliding_window_pattern: every Nth layer global; the kinds must follow it."""
    kinds = spec.kinds
    n = kinds.index("full") + 1 if "full" in kinds else 0
    want = tuple("full" if (i + 1) % n == 0 else "sliding" for i in range(spec.n_layers)) if n else ()
    if not n or kinds != want:
        raise UserError(f"mlx-lm's gemma3_text needs a global layer every N layers (at least one); {spec.name}'s "
                        f"{spec.n_layers} layers don't follow that pattern: use --scale-layers >= 6")
    return n


def _qwen3_next_interval(spec: ModelSpec) -> int:
    kinds = spec.kinds
    n = kinds.index("full") + 1 if "full" in kinds else 0
    if not n or kinds != tuple("full" if (i + 1) % n == 0 else "linear" for i in range(spec.n_layers)):
        raise UserError(f"mlx-lm's qwen3_next needs a full-attention layer every N layers (at least one); "
                        f"{spec.name} has none in that order: use --scale-layers >= 4")
    return n


def arch_config(spec: ModelSpec) -> dict:
    """config.json keys beyond the common ones that ``spec.arch``'s mlx-lm ModelArgs reads."""
    if spec.arch == "gpt-oss":
        return {"num_local_experts": spec.n_experts, "num_experts_per_tok": spec.n_experts_used,
                "intermediate_size": spec.expert_ffn, "sliding_window": spec.sliding_window or 128,
                "layer_types": ["sliding_attention" if k == "sliding" else "full_attention" for k in spec.kinds]}
    if spec.arch == "gemma3":
        return {"sliding_window_pattern": _gemma3_pattern(spec), "sliding_window": spec.sliding_window or 512,
                "query_pre_attn_scalar": spec.head_dim, "rope_local_base_freq": 10000.0}
    if spec.arch == "qwen3next":
        return {"linear_num_value_heads": spec.linear_v_heads, "linear_num_key_heads": spec.linear_k_heads,
                "linear_key_head_dim": spec.linear_k_dim, "linear_value_head_dim": spec.linear_v_dim,
                "linear_conv_kernel_dim": spec.conv_kernel, "full_attention_interval": _qwen3_next_interval(spec),
                "shared_expert_intermediate_size": spec.shared_expert_ffn,
                "partial_rotary_factor": (spec.rope_dim or spec.head_dim) / spec.head_dim}
    return {}
