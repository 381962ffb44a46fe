"""GGUF tensor layouts of the architectures added for current models (issue 12).

Same contract as :mod:`tokbench.modelspec.tensors` (names and shapes as llama.cpp's loader creates
them: ``load_arch_tensors`` in ``src/models/<arch>.cpp`` of the llama.cpp vendored by
llama-cpp-python 0.3.36, names from ``src/llama-arch.cpp``), for: qwen35 (Qwen3.5/3.6 dense),
glm4moe (GLM-4.5/4.6/4.7), minimax-m2, llama4, nemotron_h / nemotron_h_moe (Mamba-2 hybrids),
deepseek32 (DeepSeek-V3.2 sparse attention) and gemma4. Multi-token-prediction blocks are left out
(llama.cpp skips them unless asked; a file's own MTP tensors are counted apart by the readers).
"""

from __future__ import annotations

from tokbench.modelspec.model import ModelSpec, TensorSpec
from tokbench.modelspec.tensors import (
    _dense_ffn,
    _experts,
    _head,
    _mla,
    _qk_norm,
    _qkv,
    _qwen_hybrid,
    _shared_expert,
    _t,
)


def _router_bias(spec: ModelSpec, i: int) -> list[TensorSpec]:
    """The expert-selection bias (HF e_score_correction_bias) llama.cpp loads as exp_probs_b."""
    return [_t(f"blk.{i}.exp_probs_b.bias", spec.n_experts, layer=i)] if spec.expert_probs_bias else []


def _glm4moe(spec: ModelSpec) -> list[TensorSpec]:
    """glm4moe (GLM-4.5/4.6/4.7): biased q/k/v, optional q/k norms, post_attention_norm before the
    FFN, dense leading layers, sigmoid-routed experts with a bias and a shared expert."""
    out = _head(spec)
    q = spec.n_heads * spec.head_dim
    for i in range(spec.n_layers):
        p = f"blk.{i}."
        out.append(_t(p + "attn_norm.weight", spec.hidden, layer=i))
        out += _qkv(spec, i, q, spec.qkv_bias)
        out.append(_t(p + "attn_output.weight", q, spec.hidden, layer=i))
        if spec.qk_norm:
            out += _qk_norm(spec, i)
        out.append(_t(p + "post_attention_norm.weight", spec.hidden, layer=i))
        if spec.is_moe_layer(i):
            out += _experts(spec, i)[:1] + _router_bias(spec, i) + _experts(spec, i)[1:]
            if spec.shared_expert_ffn:
                out += _shared_expert(spec, i)
        else:
            out += _dense_ffn(spec, i, norm=False)
    return out


def _minimax_m2(spec: ModelSpec) -> list[TensorSpec]:
    """minimax-m2: q/k RMS norms over all heads at once, every layer MoE with a routing bias."""
    out = _head(spec)
    q, kv = spec.n_heads * spec.head_dim, spec.n_kv_heads * spec.head_dim
    for i in range(spec.n_layers):
        p = f"blk.{i}."
        out.append(_t(p + "attn_norm.weight", spec.hidden, layer=i))
        out += _qkv(spec, i, q, spec.qkv_bias)
        out.append(_t(p + "attn_output.weight", q, spec.hidden, layer=i))
        out += [_t(p + "attn_q_norm.weight", q, layer=i), _t(p + "attn_k_norm.weight", kv, layer=i)]
        out.append(_t(p + "ffn_norm.weight", spec.hidden, layer=i))
        out += _experts(spec, i)[:1] + _router_bias(spec, i) + _experts(spec, i)[1:]
    return out


def _llama4(spec: ModelSpec) -> list[TensorSpec]:
    """llama4: dense and MoE layers interleaved (interleave_moe_layer_step); each MoE layer has one
    shared expert as wide as a routed one. q/k are L2-normalised without weights."""
    out = _head(spec)
    q = spec.n_heads * spec.head_dim
    for i in range(spec.n_layers):
        p = f"blk.{i}."
        out.append(_t(p + "attn_norm.weight", spec.hidden, layer=i))
        out += _qkv(spec, i, q, spec.qkv_bias)
        out += [_t(p + "attn_output.weight", q, spec.hidden, layer=i), _t(p + "ffn_norm.weight", spec.hidden, layer=i)]
        if spec.is_moe_layer(i):
            out += _experts(spec, i) + _shared_expert(spec, i)
        else:
            out += _dense_ffn(spec, i, norm=False)
    return out


def _mamba2(spec: ModelSpec, i: int) -> list[TensorSpec]:
    """A Mamba-2 mixer (models/nemotron-h.cpp): d_inner = heads * head_dim, groups share B/C."""
    p = f"blk.{i}."
    d_inner, heads = spec.linear_v_heads * spec.linear_v_dim, spec.linear_v_heads
    groups, state = spec.linear_k_heads, spec.linear_k_dim
    conv = d_inner + 2 * groups * state
    return [
        _t(p + "ssm_in.weight", spec.hidden, 2 * d_inner + 2 * groups * state + heads, layer=i),
        _t(p + "ssm_conv1d.weight", spec.conv_kernel, conv, layer=i),
        _t(p + "ssm_conv1d.bias", conv, layer=i),
        _t(p + "ssm_dt.bias", heads, layer=i),
        _t(p + "ssm_a", 1, heads, layer=i),  # LLM_TENSOR_SSM_A: no .weight suffix
        _t(p + "ssm_d", 1, heads, layer=i),
        _t(p + "ssm_norm.weight", d_inner // groups, groups, layer=i),
        _t(p + "ssm_out.weight", d_inner, spec.hidden, layer=i),
    ]


def _nemotron_h(spec: ModelSpec) -> list[TensorSpec]:
    """nemotron_h / nemotron_h_moe: each layer is one of a Mamba-2 mixer, attention, or an FFN
    (squared-ReLU: up and down only; in the MoE variant routed experts plus one shared expert)."""
    out = _head(spec)
    q = spec.n_heads * spec.head_dim
    for i in range(spec.n_layers):
        p, kind = f"blk.{i}.", spec.kinds[i]
        out.append(_t(p + "attn_norm.weight", spec.hidden, layer=i))
        if kind == "mamba":
            out += _mamba2(spec, i)
        elif kind == "full":
            out += _qkv(spec, i, q, spec.qkv_bias)
            out.append(_t(p + "attn_output.weight", q, spec.hidden, layer=i))
        elif spec.is_moe:
            e, ff, sff = spec.n_experts, spec.expert_ffn, spec.shared_expert_ffn
            out += [_t(p + "ffn_gate_inp.weight", spec.hidden, e, layer=i), *_router_bias(spec, i),
                    _t(p + "ffn_down_exps.weight", ff, spec.hidden, e, layer=i),
                    _t(p + "ffn_up_exps.weight", spec.hidden, ff, e, layer=i),
                    _t(p + "ffn_down_shexp.weight", sff, spec.hidden, layer=i),
                    _t(p + "ffn_up_shexp.weight", spec.hidden, sff, layer=i)]
        else:
            out += [_t(p + "ffn_down.weight", spec.intermediate, spec.hidden, layer=i),
                    _t(p + "ffn_up.weight", spec.hidden, spec.intermediate, layer=i)]
    return out


def _indexer(spec: ModelSpec, i: int) -> list[TensorSpec]:
    """DeepSeek-V3.2's lightning indexer (models/deepseek32.cpp): one key head, index_n_heads queries."""
    p, d = f"blk.{i}.", spec.index_head_dim
    return [
        _t(p + "indexer.k_norm.weight", d, layer=i),
        _t(p + "indexer.k_norm.bias", d, layer=i),
        _t(p + "indexer.proj.weight", spec.hidden, spec.index_n_heads, layer=i),
        _t(p + "indexer.attn_k.weight", spec.hidden, d, layer=i),
        _t(p + "indexer.attn_q_b.weight", spec.q_lora_rank, spec.index_n_heads * d, layer=i),
    ]


def _deepseek32(spec: ModelSpec) -> list[TensorSpec]:
    """deepseek32 (DeepSeek-V3.2): deepseek2's MLA + experts, plus the indexer in every layer."""
    out = _head(spec)
    for i in range(spec.n_layers):
        out += _mla(spec, i) + _indexer(spec, i)
        if not spec.is_moe_layer(i):
            out += _dense_ffn(spec, i)
            continue
        out.append(_t(f"blk.{i}.ffn_norm.weight", spec.hidden, layer=i))
        out += _experts(spec, i)[:1] + _router_bias(spec, i) + _experts(spec, i)[1:] + _shared_expert(spec, i)
    return out


def gemma4_layer_dims(spec: ModelSpec, i: int) -> tuple[int, int]:
    """(head size, KV heads) of Gemma 4 layer ``i``: sliding layers have their own (smaller) heads."""
    if spec.kinds[i] == "sliding":
        return spec.head_dim_swa or spec.head_dim, spec.n_kv_heads_swa or spec.n_kv_heads
    return spec.head_dim, spec.n_kv_heads


def _gemma4_attention(spec: ModelSpec, i: int) -> list[TensorSpec]:
    """q always; k (and v unless K doubles as V) only in layers with their own KV cache."""
    p = f"blk.{i}."
    hd, n_kv = gemma4_layer_dims(spec, i)
    q, kv = spec.n_heads * hd, n_kv * hd
    out = [_t(p + "attn_norm.weight", spec.hidden, layer=i), _t(p + "attn_q.weight", spec.hidden, q, layer=i)]
    if spec.has_kv(i):
        out.append(_t(p + "attn_k.weight", spec.hidden, kv, layer=i))
        if not (spec.attn_k_eq_v and spec.kinds[i] == "full"):
            out.append(_t(p + "attn_v.weight", spec.hidden, kv, layer=i))
    out += [_t(p + "attn_output.weight", q, spec.hidden, layer=i), _t(p + "attn_q_norm.weight", hd, layer=i)]
    if spec.has_kv(i):
        out.append(_t(p + "attn_k_norm.weight", hd, layer=i))
    return out + [_t(p + "post_attention_norm.weight", spec.hidden, layer=i),
                  _t(p + "layer_output_scale.weight", 1, layer=i)]


def _gemma4_ffn(spec: ModelSpec, i: int) -> list[TensorSpec]:
    """Dense GeGLU FFN (2x wide in KV-shared layers of E2B/E4B), plus the 26B-A4B's routed experts."""
    p, h = f"blk.{i}.", spec.hidden
    shared = spec.wide_ffn_shared and not spec.has_kv(i) and spec.kinds[i] != "ffn"
    ff = spec.intermediate * (2 if shared else 1)
    out = [_t(p + "ffn_norm.weight", h, layer=i), _t(p + "ffn_gate.weight", h, ff, layer=i),
           _t(p + "ffn_up.weight", h, ff, layer=i), _t(p + "ffn_down.weight", ff, h, layer=i),
           _t(p + "post_ffw_norm.weight", h, layer=i)]
    if spec.is_moe:
        e, eff = spec.n_experts, spec.expert_ffn
        out += [_t(p + "ffn_gate_inp.weight", h, e, layer=i), _t(p + "ffn_gate_inp.scale", h, layer=i),
                _t(p + "pre_ffw_norm_2.weight", h, layer=i), _t(p + "post_ffw_norm_1.weight", h, layer=i),
                _t(p + "post_ffw_norm_2.weight", h, layer=i),
                _t(p + "ffn_gate_up_exps.weight", h, 2 * eff, e, layer=i),  # HF stores gate and up fused
                _t(p + "ffn_down_exps.weight", eff, h, e, layer=i),
                _t(p + "ffn_down_exps.scale", e, layer=i)]  # HF router.per_expert_scale
    if spec.per_layer_embd:
        ple = spec.per_layer_embd
        out += [_t(p + "inp_gate.weight", h, ple, layer=i), _t(p + "proj.weight", ple, h, layer=i),
                _t(p + "post_norm.weight", h, layer=i)]
    return out


def _gemma4(spec: ModelSpec) -> list[TensorSpec]:
    """gemma4: sliding and global layers with different head sizes, optional KV sharing, per-layer
    embeddings (E2B/E4B) and MoE beside the dense FFN (26B-A4B). The global layers' proportional
    RoPE ships as one rope_freqs tensor (convert_hf_to_gguf generate_extra_tensors)."""
    out = _head(spec)
    if spec.per_layer_embd:
        width = spec.per_layer_embd * spec.n_layers
        out += [_t("per_layer_token_embd.weight", width, spec.vocab), _t("per_layer_model_proj.weight", spec.hidden, width),
                _t("per_layer_proj_norm.weight", spec.per_layer_embd)]
    if "full" in spec.kinds:
        out.append(_t("rope_freqs.weight", spec.head_dim // 2))
    for i in range(spec.n_layers):
        out += _gemma4_attention(spec, i) + _gemma4_ffn(spec, i)
    return out


FAMILY_BUILDERS = {
    "qwen35": _qwen_hybrid,
    "glm4moe": _glm4moe,
    "minimax-m2": _minimax_m2,
    "llama4": _llama4,
    "nemotron_h": _nemotron_h,
    "nemotron_h_moe": _nemotron_h,
    "deepseek32": _deepseek32,
    "gemma4": _gemma4,
}
