"""llama.cpp's per-tensor type choice for a quantization preset, re-implemented from its source.

Source of every rule: src/llama-quant.cpp of the llama.cpp that llama-cpp-python 0.3.36 vendors
(``tensor_allows_quantization``, ``llama_tensor_get_type_impl``, ``tensor_type_fallback``,
``init_quantize_state_counters``, ``tensor_requires_imatrix``) and, for the F16 input file the
quantizer starts from, convert_hf_to_gguf (conversion/base.py: which tensors it keeps in F32).

Layer-dependent rules depend on *counters* that llama.cpp advances while it walks the tensors in
its loader's order (``weight_name_comparer``: by block number, non-block tensors first, then by
name). ``n_attention_wv`` counts every attn_v / attn_qkv / attn_kv_b tensor, so hybrid models that
have attn_qkv in their linear-attention layers count those too; ffn counters run per tensor for
dense models and are replaced by the block number parsed from the name when n_expert > 1. We walk
the same order with the same counters, so the answers match the quantizer tensor for tensor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from tokbench.errors import UserError
from tokbench.quant.formats import fits_blocks, ggml_type, tensor_nbytes
from tokbench.quant.presets import NATIVE, Preset, get_preset, parse_quant
from tokbench.modelspec.model import ModelSpec, TensorSpec

# Presets whose bulk type is one of the IQ1/IQ2 families: they share one branch of the rules.
_IQ2_FAMILY = {"IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"}
# Output-tensor preset group that gets Q5_K instead of Q6_K.
_OUTPUT_Q5K = {"IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"}
# attn_output in models with exactly 8 experts: these presets bump it to Q5_K.
_ATTN_OUT_8EXP = {"Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ3_S", "IQ3_M",
                  "IQ4_XS"}
# Block-size fallbacks (tensor_type_fallback): 256-blocks demote to a 32-block type.
_FALLBACK = {
    **dict.fromkeys(("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ4_XS"), "IQ4_NL"),
    **dict.fromkeys(("Q2_0", "Q2_K", "Q3_K", "TQ1_0", "TQ2_0"), "Q4_0"),
    "Q4_K": "Q5_0",
    "Q5_K": "Q5_1",
    "Q6_K": "Q8_0",
}
# Target types that need an importance matrix (tensor_requires_imatrix), Q2_K only inside Q2_K_S.
_IMATRIX_TYPES = {"IQ3_XXS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_M", "IQ1_S"}

# Substrings of names llama.cpp never quantizes (besides 1-D tensors, norms and non-".weight").
_KEEP = (
    "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
    "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
    "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
    "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
    "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
    "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
    "attn_rel_b.weight", ".position_embd", ".rel_pos", ".patch_embd", ".patch_merger",
)
_KEEP_EXACT = ("position_embd.weight", "token_types.weight")
# Tensors convert_hf_to_gguf writes in F32 whatever the output type (conversion/base.py).
_SOURCE_F32 = ("ffn_gate_inp", "indexer.proj", "position_embd", "token_types", "ssm_conv1d", "shortconv.conv",
               "time_mix_first", "time_mix_w1", "time_mix_w2", "time_mix_decay_w1", "time_mix_decay_w2",
               "time_mix_lerp_fused", "posnet", "altup_correct_coef", "altup_predict_coef")
# Architectures/layer counts llama.cpp labels LLM_TYPE_70B (src/models/*.cpp load_arch_hparams).
_70B_LAYERS = {"qwen2": 80, "deci": 80, "olmo": 80, "jais2": 68}


def n_dims(shape: tuple[int, ...]) -> int:
    """ggml_n_dims: trailing dimensions of size 1 don't count (a (4096, 1) tensor is 1-D)."""
    n = len(shape)
    while n > 1 and shape[n - 1] == 1:
        n -= 1
    return max(n, 1)


@lru_cache(maxsize=1 << 16)  # pure in name/shape: the same tensors are asked for every preset
def source_type(t: TensorSpec, ftype: str = "F16") -> str:
    """Type of ``t`` in a freshly converted ``ftype`` (F16/BF16/F32) GGUF, the quantizer's input."""
    if n_dims(t.shape) <= 1 or t.name.endswith("_norm.weight") or not t.name.endswith(".weight"):
        return "F32"
    if any(s in t.name for s in _SOURCE_F32):
        return "F32"
    return ftype


@lru_cache(maxsize=1 << 16)  # pure in name/shape: the same tensors are asked for every preset
def allows_quantization(t: TensorSpec) -> bool:
    """tensor_allows_quantization: 2-D/3-D ``.weight`` tensors that are not norms, routers, conv..."""
    name = t.name
    if n_dims(t.shape) < 2 or not name.endswith("weight") or "_norm.weight" in name:
        return False
    if name in _KEEP_EXACT:
        return False
    return not any(s in name for s in _KEEP)


@lru_cache(maxsize=1 << 16)  # pure in name/shape: the same tensors are asked for every preset
def category(name: str) -> str:
    """tensor_get_category: broad role by substring, in llama.cpp's order of checks."""
    if name == "output.weight":
        return "output"
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return "token_embd"
    for key, cat in (("attn_qkv.weight", "attn_qkv"), ("attn_kv_b.weight", "attn_kv_b"), ("attn_v.weight", "attn_v"),
                     ("attn_k.weight", "attn_k"), ("attn_q.weight", "attn_q"), ("attn_output.weight", "attn_output"),
                     ("ffn_up", "ffn_up"), ("ffn_gate", "ffn_gate"), ("ffn_down", "ffn_down")):
        if key in name:
            return cat
    return "other"


def _is_attn_v(cat: str) -> bool:
    return cat in ("attn_v", "attn_qkv", "attn_kv_b")


@lru_cache(maxsize=1 << 16)  # pure in name/shape: the same tensors are asked for every preset
def _block_of(name: str) -> int:
    m = re.match(r"blk\.(\d+)\.", name)
    return int(m.group(1)) if m else -1


_ORDER_CACHE: dict[int, tuple[object, list[TensorSpec]]] = {}


def loader_order(tensors: tuple[TensorSpec, ...] | list[TensorSpec]) -> list[TensorSpec]:
    """Tensors in llama_model_loader's weights_map order (non-block first, then by block, then name)."""
    # A plan asks for the same tensor tuple once per preset: sort it once (kept with the tuple so
    # its id cannot be reused while cached).
    hit = _ORDER_CACHE.get(id(tensors))
    if hit is not None and hit[0] is tensors:
        return hit[1]
    order = sorted(tensors, key=lambda t: (_block_of(t.name), t.name))
    if isinstance(tensors, tuple):
        if len(_ORDER_CACHE) > 256:
            _ORDER_CACHE.clear()
        _ORDER_CACHE[id(tensors)] = (tensors, order)
    return order


def use_more_bits(i: int, n: int) -> bool:
    """llama.cpp's layers that get more bits: first and last eighth, and every third in between."""
    return i < n // 8 or i >= 7 * n // 8 or _cmod(i - n // 8, 3) == 2


def _cmod(a: int, b: int) -> int:
    """C's % (truncates toward zero), which differs from Python's for negative a."""
    r = abs(a) % b
    return -r if a < 0 else r


@dataclass
class _State:
    """quantize_state_impl: model facts and the running counters."""

    preset: str
    arch: str
    n_expert: int
    n_gqa: int
    n_layer: int
    is_70b: bool
    has_imatrix: bool
    tied: bool
    n_attention_wv: int = 0
    i_attention_wv: int = 0
    i_ffn_down: int = 0
    i_ffn_gate: int = 0
    i_ffn_up: int = 0

    def layer(self, counter: int, name: str) -> int:
        """layer_info: the counter for dense models, the block number when there are experts."""
        if max(1, self.n_expert) > 1:
            i = _block_of(name)
            if not 0 <= i < self.n_layer:
                raise ValueError(f"bad layer {i} for tensor {name} (n_layer {self.n_layer})")
            return i
        return counter


def _output_type(qs: _State, t: TensorSpec, new: str) -> str:
    """output.weight (and token_embd when tied): Q6_K, Q5_K for the IQ1/IQ2 family, Q8_0 if blocks don't fit."""
    if qs.preset == "MXFP4_MOE":
        return "Q8_0"
    if qs.arch == "falcon" or t.shape[0] % ggml_type(new).block:
        return "Q8_0"
    if qs.preset in _OUTPUT_Q5K:
        return "Q5_K"
    return new if new == "Q8_0" else "Q6_K"


def _token_embd_type(qs: _State, new: str) -> str:
    """Untied token_embd: only the lowest-bit presets change it."""
    if qs.preset in ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"):
        return "Q2_K"
    if qs.preset in ("IQ2_S", "IQ2_M", "IQ3_XXS"):
        return "IQ3_S"
    if qs.preset in ("TQ1_0", "TQ2_0", "Q2_0"):
        return "Q4_K"
    return new


def _iq2_family_type(qs: _State, cat: str, new: str) -> str:
    """IQ1_S/IQ1_M/IQ2_XXS/IQ2_XS/IQ2_S/IQ2_M: one branch for all non-embedding tensors."""
    s_or_m = qs.preset in ("IQ2_S", "IQ2_M")
    if _is_attn_v(cat):
        if qs.n_gqa >= 4 or qs.n_expert >= 4:
            new = "Q4_K"
        else:
            new = "IQ3_S" if s_or_m else "Q2_K"
        qs.i_attention_wv += 1
    elif qs.n_expert == 8 and cat == "attn_k":
        new = "Q4_K"
    elif cat == "ffn_down":
        # Raw counter against n_layer/8, even for MoE (no layer_info call in this branch).
        if qs.i_ffn_down < qs.n_layer // 8:
            new = "IQ3_S" if s_or_m else "Q2_K"
        qs.i_ffn_down += 1
    elif cat == "attn_output":
        if qs.n_expert == 8:
            new = "Q5_K"
        elif qs.preset in ("IQ1_S", "IQ1_M"):
            new = "IQ2_XXS"
        elif s_or_m:
            new = "IQ3_S"
    return new


def _attn_v_type(qs: _State, new: str) -> str:
    """attn_v / attn_qkv / attn_kv_b outside the IQ1/IQ2 family."""
    p, gqa4 = qs.preset, qs.n_gqa >= 4
    if p == "Q2_K":
        new = "Q4_K" if gqa4 else "Q3_K"
    elif p == "Q2_K_S" and gqa4:
        new = "Q4_K"
    elif p == "IQ3_XXS":
        new = "Q4_K" if gqa4 else ("IQ3_S" if not qs.has_imatrix else "IQ3_XXS")
    elif p in ("IQ3_XS", "IQ3_S") and gqa4:
        new = "Q4_K"
    elif p == "IQ3_M":
        new = "Q4_K"
    elif p == "Q3_K_M":
        new = "Q5_K" if qs.i_attention_wv < 2 else "Q4_K"
    elif p == "Q3_K_L":
        new = "Q5_K"
    elif p in ("IQ4_NL", "IQ4_XS") and gqa4:
        new = "Q5_K"
    elif p in ("Q4_K_M", "Q5_K_M") and use_more_bits(qs.i_attention_wv, qs.n_attention_wv):
        new = "Q6_K"
    elif p == "Q4_K_S" and qs.i_attention_wv < 4:
        new = "Q5_K"
    if qs.is_70b and new in ("Q3_K", "Q4_K"):
        new = "Q5_K"  # 70B: attn_v is 8x smaller than attn_q, so more bits cost little
    if qs.n_expert == 8:
        new = "Q8_0"
    qs.i_attention_wv += 1
    return new


def _ffn_down_type(qs: _State, name: str, new: str) -> str:
    """ffn_down (dense, shared and routed experts) outside the IQ1/IQ2 family."""
    p, falcon = qs.preset, qs.arch == "falcon"
    i, n = qs.layer(qs.i_ffn_down, name), qs.n_layer
    if p == "Q2_K":
        new = "Q3_K"
    elif p == "Q2_K_S":
        if i < n // 8:
            new = "Q4_K"
    elif p == "IQ3_XXS" and not qs.has_imatrix:
        new = "Q4_K" if i < n // 8 else "Q3_K"
    elif p == "Q3_K_M":
        # As written in llama.cpp: every non-Falcon model gets Q4_K past the first sixteenth.
        new = "Q5_K" if i < n // 16 else ("Q4_K" if not falcon or use_more_bits(i, n) else "Q3_K")
    elif p == "IQ3_M" and (i < n // 8 or (qs.n_expert == 8 and use_more_bits(i, n))):
        new = "Q4_K"
    elif p == "Q3_K_L":
        new = "Q4_K" if falcon else "Q5_K"
    elif p == "Q4_K_M":
        if falcon:
            new = "Q6_K" if i < n // 16 else ("Q5_K" if use_more_bits(i, n) else "Q4_K")
        elif use_more_bits(i, n):
            new = "Q6_K"
    elif i < n // 8 and p in ("IQ4_NL", "IQ4_XS") and not qs.has_imatrix:
        new = "Q5_K"
    elif p == "Q5_K_M" and use_more_bits(i, n):
        new = "Q6_K"
    elif p == "Q4_K_S" and not falcon and i < n // 8:
        new = "Q5_K"
    elif p in ("Q4_0", "Q5_0") and qs.has_imatrix and i < n // 8:
        new = "Q4_1" if p == "Q4_0" else "Q5_1"
    qs.i_ffn_down += 1
    return new


def _attn_output_type(qs: _State, new: str) -> str:
    """attn_output outside the IQ1/IQ2 family (MoE with 8 experts: Q5_K for the low presets)."""
    p = qs.preset
    if qs.arch == "falcon":
        return "Q4_K" if p == "Q3_K_L" else new
    if qs.n_expert == 8:
        return "Q5_K" if p in _ATTN_OUT_8EXP else new
    return {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K", "IQ3_M": "Q4_K"}.get(p, new)


def _rest_type(qs: _State, cat: str, name: str, new: str) -> str:
    """attn_k, attn_q, fused attn_qkv, ffn_gate and ffn_up outside the IQ1/IQ2 family."""
    p = qs.preset
    if cat == "attn_k":
        if qs.n_expert == 8:
            return "Q8_0"
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(p, new)
    if cat == "attn_q":
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(p, new)
    # llama.cpp's own attn_qkv branch is unreachable (attn_qkv is attn_v-like, handled first), so none here.
    if cat in ("ffn_gate", "ffn_up"):
        counter = "i_ffn_gate" if cat == "ffn_gate" else "i_ffn_up"
        i, n = qs.layer(getattr(qs, counter), name), qs.n_layer
        if p == "IQ3_XS" and n // 8 <= i < 7 * n // 8:
            new = "IQ3_XXS"
        setattr(qs, counter, getattr(qs, counter) + 1)
    return new


def _mixture_type(qs: _State, t: TensorSpec, default: str) -> str:
    """llama_tensor_get_type_impl: the preset's choice for one quantizable tensor."""
    cat = category(t.name)
    if cat == "output" or (qs.tied and cat == "token_embd"):
        return _output_type(qs, t, default)
    if qs.preset == "MXFP4_MOE":
        # Stacked expert tensors (3-D) get MXFP4, every other quantized tensor Q8_0.
        return "MXFP4" if len(t.shape) > 2 and t.shape[2] > 1 else "Q8_0"
    if cat == "token_embd":
        return _token_embd_type(qs, default)
    if qs.preset in _IQ2_FAMILY:
        return _iq2_family_type(qs, cat, default)
    if _is_attn_v(cat):
        return _attn_v_type(qs, default)
    if cat == "ffn_down":
        return _ffn_down_type(qs, t.name, default)
    if cat == "attn_output":
        return _attn_output_type(qs, default)
    return _rest_type(qs, cat, t.name, default)


def fallback_type(target: str, row_length: int) -> str:
    """tensor_type_fallback: a type whose block divides ``row_length`` (F16 when none of them does)."""
    if fits_blocks(target, row_length):
        return target
    block = ggml_type(target).block
    out = _FALLBACK.get(target)
    if out is None:
        if block > 32:
            raise ValueError(f"llama.cpp has no fallback type for {target} (row length {row_length})")
        out = target  # already a 32-block type: only F16 is left
    return out if fits_blocks(out, row_length) else "F16"


def _is_70b(spec: ModelSpec) -> bool:
    """LLM_TYPE_70B as llama.cpp's loaders label it (only this model type changes quantization)."""
    if spec.arch == "llama":
        return spec.n_layers == 80 and spec.n_experts != 8 and spec.n_heads != spec.n_kv_heads
    return _70B_LAYERS.get(spec.arch) == spec.n_layers


def _gqa_layer0(spec: ModelSpec) -> int:
    """hparams.n_gqa() as llama-quant.cpp calls it: layer 0's heads per KV head, 0 when layer 0 has no
    KV heads (Nemotron-H's per-layer head_count_kv array is 0 outside attention layers; Gemma 4's
    sliding layers have their own KV head count)."""
    kind = spec.kinds[0] if spec.n_layers else "full"
    if spec.arch in ("nemotron_h", "nemotron_h_moe") and kind != "full":
        return 0
    kv = spec.n_kv_heads_swa if spec.n_kv_heads_swa and kind == "sliding" else spec.n_kv_heads
    return spec.n_heads // kv if kv else 0


def _file_types(spec: ModelSpec) -> dict[str, str]:
    tensors = spec.tensors()
    if spec.tensor_list is None or any(t.ggml_type is None for t in tensors):
        raise UserError(f"{spec.name}: no tensor types known (not read from a GGUF file); name a quant preset")
    return {t.name: str(t.ggml_type) for t in tensors}


def _is_native(spec: ModelSpec, preset: str | None) -> bool:
    if preset is None or preset.strip().lower() == NATIVE:
        return True
    return spec.file_type is not None and spec.tensor_list is not None and parse_quant(preset) == spec.file_type


def _llamacpp_preset(preset: str) -> Preset:
    p = get_preset(preset)
    if p.is_mlx:
        raise UserError(f"'{p.name}' is an MLX mode, not a llama.cpp preset (see tokbench.quant.mlx)")
    return p


def tensor_types(spec: ModelSpec, preset: str | None, imatrix: bool | None = None) -> dict[str, str]:
    """GGML type llama.cpp's quantizer gives each tensor of ``spec`` for ``preset`` (Q4_K_M, IQ4_XS ...).

    The input is the F16 GGUF convert_hf_to_gguf writes (1-D tensors, norms, routers in F32), as
    llama_model_quantize sees it. ``imatrix``: whether an importance matrix is used (a few rules
    depend on it); None assumes one exactly for presets llama.cpp refuses without one. With
    ``preset`` None, ``"native"`` or the file's own type, a spec read from a GGUF gets its file's types.
    """
    if _is_native(spec, preset):
        return _file_types(spec)
    p = _llamacpp_preset(str(preset))
    tensors = loader_order(spec.tensors())
    qs = _State(
        preset=p.name, arch=spec.arch, n_expert=spec.n_experts,
        n_gqa=_gqa_layer0(spec),
        n_layer=spec.n_layers, is_70b=_is_70b(spec),
        has_imatrix=p.needs_imatrix if imatrix is None else imatrix,
        tied=not any(t.name == "output.weight" for t in tensors),
        n_attention_wv=sum(1 for t in tensors if _is_attn_v(category(t.name))),
    )
    default = str(p.default_type)
    quantized = ggml_type(default).is_quantized
    out: dict[str, str] = {}
    for t in tensors:
        src = source_type(t)
        if not allows_quantization(t):
            out[t.name] = src
        elif not quantized:
            out[t.name] = default  # F16/BF16/F32 presets: every quantizable tensor takes the default type
        else:
            out[t.name] = fallback_type(_mixture_type(qs, t, default), t.shape[0])
    return {t.name: out[t.name] for t in spec.tensors()}


def tensor_bytes(spec: ModelSpec, preset: str | None, imatrix: bool | None = None) -> dict[str, int]:
    """Bytes of each tensor of ``spec`` quantized with ``preset`` (see :func:`tensor_types`)."""
    types = tensor_types(spec, preset, imatrix)
    return {t.name: tensor_nbytes(types[t.name], t.shape) for t in spec.tensors()}


def weights_bytes(spec: ModelSpec, preset: str | None, imatrix: bool | None = None) -> int:
    """Total tensor bytes of ``spec`` quantized with ``preset`` (the GGUF's data section, no padding)."""
    return sum(tensor_bytes(spec, preset, imatrix).values())


def requires_imatrix(spec: ModelSpec, preset: str) -> bool:
    """True when llama.cpp would refuse ``preset`` for ``spec`` without an importance matrix.

    Exact per model (tensor_requires_imatrix on each quantized tensor's final type): a fallback
    can move every offending tensor to an allowed type.
    """
    p = _llamacpp_preset(preset)
    types = tensor_types(spec, p.name, imatrix=False)
    for t in spec.tensors():
        if not allows_quantization(t) or category(t.name) in ("token_embd", "output"):
            continue
        ty = types[t.name]
        if ty in _IMATRIX_TYPES or (ty == "Q2_K" and p.name == "Q2_K_S"):
            return True
    return False
