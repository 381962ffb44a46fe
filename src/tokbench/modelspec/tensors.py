"""The GGUF tensor list of a ModelSpec, per architecture, as llama.cpp's loader expects it.

Names and shapes follow llama.cpp (``src/models/<arch>.cpp``, ``load_arch_tensors``: the
``create_tensor`` calls; names from ``src/llama-arch.cpp``), as vendored by llama-cpp-python 0.3.36.
Synthesized files must load there, and the planner's weight bytes are summed over this list.
Shapes are in GGUF order: ``shape[0]`` is the row length (a matrix's input width).

Only tensors a current conversion writes are listed: llama.cpp also accepts optional legacy or
fused forms (``attn_qkv`` for q/k/v, ``ffn_gate_up_exps``, ``ssm_in``, ``attn_kv_b``) that
convert_hf_to_gguf.py does not emit for these models, and multi-token-prediction blocks (not part
of the published parameter counts, and skipped by llama.cpp unless asked to load them).
"""

from __future__ import annotations

from collections.abc import Callable

from tokbench.modelspec.model import ModelSpec, TensorSpec

Builder = Callable[[ModelSpec], list[TensorSpec]]


def _t(name: str, *shape: int, layer: int | None = None) -> TensorSpec:
    return TensorSpec(name=name, shape=tuple(map(int, shape)), layer=layer)


def _head(spec: ModelSpec, output: bool | None = None) -> list[TensorSpec]:
    """token_embd, output_norm and (unless tied) output; gpt-oss always has its own output."""
    out = [_t("token_embd.weight", spec.hidden, spec.vocab), _t("output_norm.weight", spec.hidden)]
    if output if output is not None else not spec.tie_embeddings:
        out.append(_t("output.weight", spec.hidden, spec.vocab))
    return out


def _qkv(spec: ModelSpec, i: int, q_width: int, bias: bool) -> list[TensorSpec]:
    """Separate q/k/v projections (llama_model_base::create_tensor_qkv) with optional biases."""
    kv = spec.n_kv_heads * spec.head_dim
    p = f"blk.{i}."
    out = [
        _t(p + "attn_q.weight", spec.hidden, q_width, layer=i),
        _t(p + "attn_k.weight", spec.hidden, kv, layer=i),
        _t(p + "attn_v.weight", spec.hidden, kv, layer=i),
    ]
    if bias:
        out += [_t(p + "attn_q.bias", q_width, layer=i), _t(p + "attn_k.bias", kv, layer=i), _t(p + "attn_v.bias", kv, layer=i)]
    return out


def _qk_norm(spec: ModelSpec, i: int) -> list[TensorSpec]:
    p = f"blk.{i}."
    return [_t(p + "attn_q_norm.weight", spec.head_dim, layer=i), _t(p + "attn_k_norm.weight", spec.head_dim, layer=i)]


def _attention(spec: ModelSpec, i: int) -> list[TensorSpec]:
    """Standard GQA attention block (llama, qwen2, qwen3 and their MoE variants)."""
    q = spec.n_heads * spec.head_dim
    p = f"blk.{i}."
    out = [_t(p + "attn_norm.weight", spec.hidden, layer=i)]
    out += _qkv(spec, i, q, spec.qkv_bias)
    out.append(_t(p + "attn_output.weight", q, spec.hidden, layer=i))
    if spec.qk_norm:
        out += _qk_norm(spec, i)
    return out


def _dense_ffn(spec: ModelSpec, i: int, norm: bool = True) -> list[TensorSpec]:
    ff, p = spec.intermediate, f"blk.{i}."
    out = [_t(p + "ffn_norm.weight", spec.hidden, layer=i)] if norm else []
    return out + [
        _t(p + "ffn_gate.weight", spec.hidden, ff, layer=i),
        _t(p + "ffn_up.weight", spec.hidden, ff, layer=i),
        _t(p + "ffn_down.weight", ff, spec.hidden, layer=i),
    ]


def _experts(spec: ModelSpec, i: int) -> list[TensorSpec]:
    """Router plus stacked routed experts (gate, up, down)."""
    p, e, ff = f"blk.{i}.", spec.n_experts, spec.expert_ffn
    return [
        _t(p + "ffn_gate_inp.weight", spec.hidden, e, layer=i),
        _t(p + "ffn_gate_exps.weight", spec.hidden, ff, e, layer=i),
        _t(p + "ffn_up_exps.weight", spec.hidden, ff, e, layer=i),
        _t(p + "ffn_down_exps.weight", ff, spec.hidden, e, layer=i),
    ]


def _shared_expert(spec: ModelSpec, i: int) -> list[TensorSpec]:
    p, sff = f"blk.{i}.", spec.shared_expert_ffn
    return [
        _t(p + "ffn_gate_shexp.weight", spec.hidden, sff, layer=i),
        _t(p + "ffn_up_shexp.weight", spec.hidden, sff, layer=i),
        _t(p + "ffn_down_shexp.weight", sff, spec.hidden, layer=i),
    ]


def _llama_like(spec: ModelSpec) -> list[TensorSpec]:
    """llama, qwen2, qwen3, qwen3moe: pre-norm attention then a dense or MoE FFN.

    llama's MoE branch (Mixtral, Granite) adds a shared expert when ``n_ff_shexp`` > 0.
    """
    out = _head(spec)
    for i in range(spec.n_layers):
        out += _attention(spec, i)
        if spec.is_moe_layer(i):
            out += [_t(f"blk.{i}.ffn_norm.weight", spec.hidden, layer=i)] + _experts(spec, i)
            if spec.shared_expert_ffn and spec.arch == "llama":
                out += _shared_expert(spec, i)
        else:
            out += _dense_ffn(spec, i)
    return out


def _gated_deltanet(spec: ModelSpec, i: int) -> list[TensorSpec]:
    """A Gated DeltaNet (linear attention) block as models/qwen3next.cpp and qwen35moe.cpp load it.

    llama.cpp takes head_k_dim = head_v_dim = ssm.state_size; key_dim = k_dim * k_heads,
    value_dim = v_dim * v_heads, conv over q, k and v (2 * key_dim + value_dim channels).
    qwen3next fuses beta and alpha into ``ssm_ba``; qwen35moe keeps ``ssm_beta`` and ``ssm_alpha``.
    """
    p = f"blk.{i}."
    key_dim = spec.linear_k_heads * spec.linear_k_dim
    value_dim = spec.linear_v_heads * spec.linear_v_dim
    nv = spec.linear_v_heads
    out = [
        _t(p + "attn_qkv.weight", spec.hidden, 2 * key_dim + value_dim, layer=i),
        _t(p + "attn_gate.weight", spec.hidden, value_dim, layer=i),
        _t(p + "ssm_conv1d.weight", spec.conv_kernel, spec.linear_conv_channels, layer=i),
        _t(p + "ssm_dt.bias", nv, layer=i),
        _t(p + "ssm_a", nv, layer=i),  # LLM_TENSOR_SSM_A_NOSCAN: no .weight suffix
    ]
    if spec.arch == "qwen3next":
        out.append(_t(p + "ssm_ba.weight", spec.hidden, 2 * nv, layer=i))
    else:
        out += [_t(p + "ssm_beta.weight", spec.hidden, nv, layer=i), _t(p + "ssm_alpha.weight", spec.hidden, nv, layer=i)]
    out += [
        _t(p + "ssm_norm.weight", spec.linear_v_dim, layer=i),
        _t(p + "ssm_out.weight", value_dim, spec.hidden, layer=i),
    ]
    return out


def _qwen_hybrid(spec: ModelSpec) -> list[TensorSpec]:
    """qwen3next, qwen35moe and qwen35: Gated DeltaNet layers, gated full attention every Nth layer,
    MoE with a gated shared expert (qwen35: a dense FFN). ``post_attention_norm`` is the pre-FFN norm
    (there is no ffn_norm)."""
    out = _head(spec)
    for i in range(spec.n_layers):
        p = f"blk.{i}."
        out += [_t(p + "attn_norm.weight", spec.hidden, layer=i), _t(p + "post_attention_norm.weight", spec.hidden, layer=i)]
        if spec.layer_kind(i) == "linear":
            out += _gated_deltanet(spec, i)
        else:
            q = spec.n_heads * spec.head_dim
            # The q projection also emits the output gate: twice as wide as the heads.
            out += _qkv(spec, i, 2 * q if spec.attn_output_gate else q, spec.qkv_bias)
            out.append(_t(p + "attn_output.weight", q, spec.hidden, layer=i))
            out += _qk_norm(spec, i)
        if not spec.is_moe:
            out += _dense_ffn(spec, i, norm=False)
            continue
        out += _experts(spec, i)
        out.append(_t(p + "ffn_gate_inp_shexp.weight", spec.hidden, layer=i))  # the shared expert's sigmoid gate
        out += _shared_expert(spec, i)
    return out


def _gpt_oss(spec: ModelSpec) -> list[TensorSpec]:
    """gpt-oss (LLM_ARCH_OPENAI_MOE): biased attention with per-head sinks, biased router and experts."""
    out = _head(spec, output=True)
    q, e, ff = spec.n_heads * spec.head_dim, spec.n_experts, spec.expert_ffn
    for i in range(spec.n_layers):
        p = f"blk.{i}."
        out += [_t(p + "attn_norm.weight", spec.hidden, layer=i), _t(p + "post_attention_norm.weight", spec.hidden, layer=i)]
        out += _qkv(spec, i, q, bias=True)
        out += [
            _t(p + "attn_output.weight", q, spec.hidden, layer=i),
            _t(p + "attn_output.bias", spec.hidden, layer=i),
            _t(p + "attn_sinks.weight", spec.n_heads, layer=i),
        ]
        out += _experts(spec, i)
        out += [
            _t(p + "ffn_gate_inp.bias", e, layer=i),
            _t(p + "ffn_gate_exps.bias", ff, e, layer=i),
            _t(p + "ffn_up_exps.bias", ff, e, layer=i),
            _t(p + "ffn_down_exps.bias", spec.hidden, e, layer=i),
        ]
    return out


def _mla(spec: ModelSpec, i: int) -> list[TensorSpec]:
    """DeepSeek multi-head latent attention as models/deepseek2.cpp loads a current (MLA) GGUF.

    The HF kv_b projection is stored split into per-head ``attn_k_b`` and ``attn_v_b`` (3-D), which
    convert_hf_to_gguf.py writes whenever it sets key_length_mla/value_length_mla.
    """
    p, h = f"blk.{i}.", spec.n_heads
    qk_head = spec.qk_nope_dim + spec.qk_rope_dim
    out = [_t(p + "attn_norm.weight", spec.hidden, layer=i)]
    if spec.q_lora_rank:
        out += [
            _t(p + "attn_q_a_norm.weight", spec.q_lora_rank, layer=i),
            _t(p + "attn_q_a.weight", spec.hidden, spec.q_lora_rank, layer=i),
            _t(p + "attn_q_b.weight", spec.q_lora_rank, h * qk_head, layer=i),
        ]
    else:
        out.append(_t(p + "attn_q.weight", spec.hidden, h * qk_head, layer=i))
    return out + [
        _t(p + "attn_kv_a_norm.weight", spec.kv_lora_rank, layer=i),
        _t(p + "attn_kv_a_mqa.weight", spec.hidden, spec.kv_lora_rank + spec.qk_rope_dim, layer=i),
        _t(p + "attn_k_b.weight", spec.qk_nope_dim, spec.kv_lora_rank, h, layer=i),
        _t(p + "attn_v_b.weight", spec.kv_lora_rank, spec.v_head_dim, h, layer=i),
        _t(p + "attn_output.weight", h * spec.v_head_dim, spec.hidden, layer=i),
    ]


def _deepseek2(spec: ModelSpec) -> list[TensorSpec]:
    """deepseek2 (DeepSeek V2/V3): MLA, leading dense layers, routed + shared experts."""
    out = _head(spec)
    for i in range(spec.n_layers):
        out += _mla(spec, i)
        if not spec.is_moe_layer(i):
            out += _dense_ffn(spec, i)
            continue
        out += [_t(f"blk.{i}.ffn_norm.weight", spec.hidden, layer=i)]
        experts = _experts(spec, i)
        out.append(experts[0])  # router
        if spec.expert_probs_bias:
            out.append(_t(f"blk.{i}.exp_probs_b.bias", spec.n_experts, layer=i))
        out += experts[1:]
        if spec.shared_expert_ffn:
            out += _shared_expert(spec, i)
    return out


def _gemma3(spec: ModelSpec) -> list[TensorSpec]:
    """gemma3: q/k norms and sandwich norms (post_attention_norm, post_ffw_norm) around each sub-block."""
    out = _head(spec)
    q = spec.n_heads * spec.head_dim
    for i in range(spec.n_layers):
        p = f"blk.{i}."
        out.append(_t(p + "attn_norm.weight", spec.hidden, layer=i))
        out += _qkv(spec, i, q, spec.qkv_bias)
        out += [_t(p + "attn_output.weight", q, spec.hidden, layer=i), _t(p + "post_attention_norm.weight", spec.hidden, layer=i)]
        out += _qk_norm(spec, i)
        out += _dense_ffn(spec, i)
        out.append(_t(p + "post_ffw_norm.weight", spec.hidden, layer=i))
    return out


BUILDERS: dict[str, Builder] = {
    "llama": _llama_like,
    "qwen2": _llama_like,
    "qwen3": _llama_like,
    "qwen3moe": _llama_like,
    "qwen3next": _qwen_hybrid,
    "qwen35moe": _qwen_hybrid,
    "gpt-oss": _gpt_oss,
    "deepseek2": _deepseek2,
    "gemma3": _gemma3,
}


def builders() -> dict[str, Builder]:
    """GGUF architecture -> layout builder, including :mod:`tokbench.modelspec.families` (kept in its
    own module so this one stays small; registered on first use to avoid an import cycle)."""
    if "gemma4" not in BUILDERS:
        from tokbench.modelspec.families import FAMILY_BUILDERS

        BUILDERS.update(FAMILY_BUILDERS)
    return BUILDERS


def known_architectures() -> list[str]:
    """Every GGUF architecture tokbench knows the tensor layout of, sorted."""
    return sorted(builders())


def tensors_for(spec: ModelSpec) -> tuple[TensorSpec, ...]:
    """The tensor list for ``spec``'s architecture; ValueError for an architecture we don't model."""
    try:
        builder = builders()[spec.arch]
    except KeyError:
        raise ValueError(f"no tensor layout for architecture '{spec.arch}' (known: {', '.join(known_architectures())})") from None
    return tuple(builder(spec))
