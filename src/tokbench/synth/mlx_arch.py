"""Per-architecture facts for MLX synthesis: mlx-lm parameter names, layouts and config.json keys.

Sources (mlx-lm 0.32 as installed): ``mlx_lm/models/{llama,qwen2,qwen3,qwen3_moe,gpt_oss,
gemma3_text,qwen3_next,qwen3_5,qwen3_5_moe,glm4_moe,minimax,llama4,nemotron_h}.py``: the module attributes give the parameter names, ``ModelArgs`` the
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
# qwen3_5.py (dense and, through qwen3_5_moe.py, MoE): Qwen3-Next's blocks, but the Gated DeltaNet
# input projections stay separate (in_proj_qkv, in_proj_z, in_proj_b, in_proj_a), as in GGUF.
_QWEN35 = {
    **_QWEN3_NEXT, "attn_qkv": "linear_attn.in_proj_qkv", "attn_gate": "linear_attn.in_proj_z",
    "ssm_beta": "linear_attn.in_proj_b", "ssm_alpha": "linear_attn.in_proj_a",
}
# glm4_moe.py: DeepSeek-style MoE (MoEGate is a bare weight plus e_score_correction_bias, not a
# Linear), dense layers before first_k_dense_replace, shared experts under mlp.shared_experts.
_GLM4MOE = {
    **_LLAMA, "post_attention_norm": "post_attention_layernorm", "exp_probs_b": "mlp.gate.e_score_correction_bias",
    "ffn_gate_shexp": "mlp.shared_experts.gate_proj", "ffn_up_shexp": "mlp.shared_experts.up_proj",
    "ffn_down_shexp": "mlp.shared_experts.down_proj",
}
# minimax.py: every layer MoE under block_sparse_moe, a Linear router (8-bit), full-width q/k norms.
_MINIMAX = {
    **_ATTN, "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "ffn_gate_inp": "block_sparse_moe.gate", "exp_probs_b": "block_sparse_moe.e_score_correction_bias",
    "ffn_gate_exps": "block_sparse_moe.switch_mlp.gate_proj", "ffn_up_exps": "block_sparse_moe.switch_mlp.up_proj",
    "ffn_down_exps": "block_sparse_moe.switch_mlp.down_proj",
}
# llama4.py (the MoE Llama 4; llama4_text.py is dense only): feed_forward is an MLP or, every
# interleave_moe_layer_step-th layer, a MoE with a Linear router and one shared expert.
_LLAMA4 = {
    **_ATTN, "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "feed_forward.gate_proj", "ffn_up": "feed_forward.up_proj", "ffn_down": "feed_forward.down_proj",
    "ffn_gate_inp": "feed_forward.router", "ffn_gate_exps": "feed_forward.experts.gate_proj",
    "ffn_up_exps": "feed_forward.experts.up_proj", "ffn_down_exps": "feed_forward.experts.down_proj",
    "ffn_gate_shexp": "feed_forward.shared_expert.gate_proj", "ffn_up_shexp": "feed_forward.shared_expert.up_proj",
    "ffn_down_shexp": "feed_forward.shared_expert.down_proj",
}
# nemotron_h.py: one mixer per layer (Mamba-2 "M", attention "*", MLP "-", MoE "E"), as llama.cpp's
# blocks; the MoE's routed experts are SwitchMLP fc1/fc2 (ReLU^2, no gate), its router a MoEGate.
_NEMOTRON_H = {
    "attn_norm": "norm", "ssm_in": "mixer.in_proj", "ssm_conv1d": "mixer.conv1d", "ssm_dt": "mixer.dt_bias",
    "ssm_a": "mixer.A_log", "ssm_d": "mixer.D", "ssm_norm": "mixer.norm", "ssm_out": "mixer.out_proj",
    "attn_q": "mixer.q_proj", "attn_k": "mixer.k_proj", "attn_v": "mixer.v_proj", "attn_output": "mixer.o_proj",
    "ffn_up": "mixer.up_proj", "ffn_down": "mixer.down_proj", "ffn_gate_inp": "mixer.gate",
    "exp_probs_b": "mixer.gate.e_score_correction_bias", "ffn_up_exps": "mixer.switch_mlp.fc1",
    "ffn_down_exps": "mixer.switch_mlp.fc2", "ffn_up_shexp": "mixer.shared_experts.up_proj",
    "ffn_down_shexp": "mixer.shared_experts.down_proj",
}
# GGUF arch -> (mlx-lm model_type, layer names).
ARCHS: dict[str, tuple[str, dict[str, str]]] = {
    "llama": ("llama", _LLAMA), "qwen2": ("qwen2", _LLAMA), "qwen3": ("qwen3", _LLAMA),
    "qwen3moe": ("qwen3_moe", _LLAMA), "gpt-oss": ("gpt_oss", _GPT_OSS), "gemma3": ("gemma3_text", _GEMMA3),
    "qwen3next": ("qwen3_next", _QWEN3_NEXT), "qwen35": ("qwen3_5", _QWEN35), "qwen35moe": ("qwen3_5_moe", _QWEN35),
    "glm4moe": ("glm4_moe", _GLM4MOE), "minimax-m2": ("minimax", _MINIMAX), "llama4": ("llama4", _LLAMA4),
    "nemotron_h": ("nemotron_h", _NEMOTRON_H), "nemotron_h_moe": ("nemotron_h", _NEMOTRON_H),
}
# Parameter-path prefix of models that wrap the text model (qwen3_5.py's Model.language_model):
# mlx_lm.convert saves the sanitized paths, so a converted Qwen3.5 has language_model.model.layers...
_PREFIX = {"qwen35": "language_model.", "qwen35moe": "language_model.", "llama4": "language_model."}
_TOP = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_NEMOTRON_TOP = {"token_embd": "backbone.embeddings", "output_norm": "backbone.norm_f", "output": "lm_head"}
# Parameters that are bare arrays in mlx-lm (no .weight/.bias): the mapped name is the full name.
_BARE = {"attn_sinks", "ssm_dt", "ssm_a", "ssm_d", "exp_probs_b"}
# GGUF tensors mlx-lm keeps fused into another: qwen3next's gate rows are appended to in_proj_qkvz.
_MERGED = {"qwen3next": {"attn_gate": "attn_qkv"}}


def merged_into(arch: str) -> dict[str, str]:
    """GGUF role -> the role whose mlx-lm parameter holds it, for ``arch``."""
    return _MERGED.get(arch, {})


def hf_name(t: TensorSpec, arch: str) -> str:
    """mlx-lm name of a GGUF tensor (``blk.3.attn_q.weight`` -> ``model.layers.3.self_attn.q_proj.weight``)."""
    suffix = "bias" if t.is_bias else "weight"
    prefix = _PREFIX.get(arch, "")
    nemotron = arch in ("nemotron_h", "nemotron_h_moe")
    if t.layer is None:
        return f"{prefix}{(_NEMOTRON_TOP if nemotron else _TOP)[t.role]}.{suffix}"
    base = f"{prefix}{'backbone' if nemotron else 'model'}.layers.{t.layer}.{ARCHS[arch][1][t.role]}"
    return base if t.role in _BARE else f"{base}.{suffix}"


def mlx_shape(t: TensorSpec, spec: ModelSpec) -> tuple[int, ...]:
    """mlx-lm's shape of a GGUF tensor: GGUF order reversed ([experts,] out, in), with layout fixes."""
    shape = tuple(reversed(t.shape))
    if t.role in ("ssm_a", "ssm_d", "ssm_norm"):  # Mamba-2's (1, heads) and grouped norm are flat vectors
        return (t.n_elements,)
    if t.role == "ssm_conv1d" and t.is_bias:
        return shape
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
        raise UserError(f"mlx-lm's {ARCHS[spec.arch][0]} needs a full-attention layer every N layers (at least one); "
                        f"{spec.name} has none in that order: use --scale-layers >= 4")
    return n


def _llama4_pattern(spec: ModelSpec) -> None:
    """llama4.py fixes the layout: every 4th layer global (no RoPE), the others chunked; one expert."""
    want = tuple("full" if (i + 1) % 4 == 0 else "sliding" for i in range(spec.n_layers))
    if spec.kinds != want or spec.n_experts_used != 1:
        raise UserError(f"mlx-lm's llama4 needs every 4th layer global and 1 expert per token; {spec.name} has "
                        f"{spec.n_experts_used} experts per token and {spec.n_layers} layers: use --scale-layers 4, 8 ...")


def wrap_config(spec: ModelSpec, cfg: dict) -> dict:
    """The config.json mlx-lm reads for ``spec``: Llama 4's text model sits under text_config."""
    if spec.arch != "llama4":
        return cfg
    top = {k: cfg.pop(k) for k in ("architectures", "quantization", "quantization_config", "eos_token_id",
                                   "torch_dtype") if k in cfg}
    return {"model_type": "llama4", **top, "text_config": {**cfg, "model_type": "llama4_text"}}


def _linear_attention(spec: ModelSpec) -> dict:
    return {"linear_num_value_heads": spec.linear_v_heads, "linear_num_key_heads": spec.linear_k_heads,
            "linear_key_head_dim": spec.linear_k_dim, "linear_value_head_dim": spec.linear_v_dim,
            "linear_conv_kernel_dim": spec.conv_kernel, "full_attention_interval": _qwen3_next_interval(spec),
            "shared_expert_intermediate_size": spec.shared_expert_ffn}


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
        return {**_linear_attention(spec), "partial_rotary_factor": (spec.rope_dim or spec.head_dim) / spec.head_dim}
    if spec.arch in ("qwen35", "qwen35moe"):  # qwen3_5.py reads RoPE from rope_parameters (mrope sections)
        rope = {"type": "default", "rope_theta": 10000000.0,
                "partial_rotary_factor": (spec.rope_dim or spec.head_dim) / spec.head_dim}
        if spec.rope_sections:
            rope["mrope_section"] = list(spec.rope_sections[:3])
        return {**_linear_attention(spec), "rope_parameters": rope}
    if spec.arch == "glm4moe":
        return {"n_routed_experts": spec.n_experts, "first_k_dense_replace": spec.n_dense_layers,
                "n_shared_experts": spec.shared_expert_ffn // spec.expert_ffn if spec.shared_expert_ffn else None,
                "n_group": 1, "topk_group": 1, "routed_scaling_factor": 1.0, "use_qk_norm": spec.qk_norm,
                "partial_rotary_factor": (spec.rope_dim or spec.head_dim) / spec.head_dim, "rope_scaling": None,
                "intermediate_size": spec.intermediate or spec.expert_ffn}
    if spec.arch == "llama4":
        _llama4_pattern(spec)
        return {"num_local_experts": spec.n_experts, "intermediate_size": spec.expert_ffn,
                "intermediate_size_mlp": spec.intermediate or spec.expert_ffn,
                "interleave_moe_layer_step": spec.moe_layer_step or 1, "attention_chunk_size": spec.sliding_window,
                "use_qk_norm": False, "rope_scaling": None, "rope_theta": 500000.0}
    if spec.arch in ("nemotron_h", "nemotron_h_moe"):
        if "full" not in spec.kinds:  # NemotronHModel indexes the first attention layer's cache
            raise UserError(f"mlx-lm's nemotron_h needs at least one attention layer; {spec.name}'s first "
                            f"{spec.n_layers} layers have none: use --scale-layers >= 6")
        pattern = "".join("M" if k == "mamba" else "*" if k == "full" else "E" if spec.is_moe_layer(i) else "-"
                          for i, k in enumerate(spec.kinds))
        out = {"hybrid_override_pattern": pattern, "mamba_num_heads": spec.linear_v_heads,
               "mamba_head_dim": spec.linear_v_dim, "ssm_state_size": spec.linear_k_dim,
               "n_groups": spec.linear_k_heads, "conv_kernel": spec.conv_kernel, "mamba_proj_bias": False,
               "use_conv_bias": True, "mlp_bias": False, "use_bias": False, "layer_norm_epsilon": 1e-5,
               "intermediate_size": spec.intermediate or spec.expert_ffn}
        if spec.is_moe:
            out.update(n_routed_experts=spec.n_experts, moe_intermediate_size=spec.expert_ffn,
                       moe_shared_expert_intermediate_size=spec.shared_expert_ffn or None,
                       n_shared_experts=1 if spec.shared_expert_ffn else None, n_group=1, topk_group=1,
                       norm_topk_prob=True, routed_scaling_factor=1.0)
        return out
    if spec.arch == "minimax-m2":
        return {"num_local_experts": spec.n_experts, "shared_intermediate_size": 0, "intermediate_size": spec.expert_ffn,
                "rotary_dim": spec.rope_dim or spec.head_dim, "use_qk_norm": spec.qk_norm_full}
    return {}
