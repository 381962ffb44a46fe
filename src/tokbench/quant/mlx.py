"""mlx-lm's quantization rules: which weights ``mlx_lm.convert -q`` packs, and their bytes.

Sources (mlx-lm 0.32 / mlx 0.32 as installed): ``mlx_lm.utils.quantize_model`` quantizes every leaf
module that has ``to_quantized`` (Linear, Embedding, SwitchLinear for stacked experts, MultiLinear for
MLA's per-head projections) whose input width (``weight.shape[-1]``, GGUF's ``shape[0]``) is a
multiple of the mode's group size; models may override single layers through ``quant_predicate``
(the MoE router ``mlp.gate`` / ``router`` and Qwen3-Next's ``shared_expert_gate`` become affine
8-bit, group 64, whatever the mode). Norms, biases, Conv1d weights and DeepSeek's ``MoEGate`` (not a
Linear) stay in the model's float dtype. ``mlx.core.quantize`` stores a quantized matrix as packed
``bits``-bit integers plus, per group of ``group_size`` weights, one scale (affine: the model dtype,
plus one bias of that dtype; mxfp4/mxfp8: 1-byte E8M0; nvfp4: 1-byte E4M3).
"""

from __future__ import annotations

from tokbench.errors import UserError
from tokbench.quant.presets import Preset, get_preset
from tokbench.modelspec.model import ModelSpec, TensorSpec

# Architectures (GGUF names) whose mlx-lm model class keeps the router at 8 bits through
# quant_predicate (mlx_lm/models/qwen3_moe.py, qwen3_next.py, qwen3_5.py, gpt_oss.py, ...).
ROUTER_8BIT_ARCHS = {"qwen3moe", "qwen3next", "qwen35moe", "qwen3vlmoe", "gpt-oss", "minimax-m2", "bailingmoe2",
                     "gemma4"}  # gemma4_text.py: router.proj
# Architectures whose router is not a Linear in mlx-lm (MoEGate in deepseek_v3.py, deepseek_v32.py,
# glm4_moe.py, glm4_moe_lite.py, nemotron_h.py): never quantized.
ROUTER_UNQUANTIZED_ARCHS = {"deepseek2", "deepseek3", "deepseek32", "glm4moe", "nemotron_h_moe"}
# GGUF-only tensors with no mlx-lm parameter: Gemma 4's rope_freqs is computed by mlx-lm's RoPE.
NOT_IN_MLX = ("rope_freqs",)
ROUTER_PARAMS = (8, 64)  # bits, group size: {"group_size": 64, "bits": 8} (affine)
# Modules without to_quantized in mlx-lm: Conv1d of the linear-attention layers.
NEVER_QUANTIZED = ("ssm_conv1d",)


def quantized_bytes(n_in: int, n_rows: int, bits: int, group: int, mode: str, dtype_bytes: int = 2) -> int:
    """Bytes of an ``n_rows x n_in`` matrix after ``mx.quantize`` (weights + scales + affine biases)."""
    packed = n_rows * n_in * bits // 8
    groups = n_rows * (n_in // group)
    scale_bytes = dtype_bytes if mode == "affine" else 1
    return packed + groups * scale_bytes * (2 if mode == "affine" else 1)


def _float_bytes(t: TensorSpec, dtype_bytes: int) -> int:
    return t.n_elements * dtype_bytes


def _router_bytes(spec: ModelSpec, t: TensorSpec, p: Preset, dtype_bytes: int) -> int | None:
    """Router/shared-expert-gate bytes when the architecture overrides them, else None."""
    if t.is_bias:
        return None
    if t.role == "ffn_gate_inp" and spec.arch in ROUTER_UNQUANTIZED_ARCHS:
        return _float_bytes(t, dtype_bytes)
    if spec.arch not in ROUTER_8BIT_ARCHS or t.role not in ("ffn_gate_inp", "ffn_gate_inp_shexp"):
        return None
    n_in = t.shape[0]
    # The divisibility test uses the mode's own group size, before the override applies.
    if n_in % int(p.group_size or 0) or n_in % ROUTER_PARAMS[1]:
        return _float_bytes(t, dtype_bytes)
    rows = t.n_elements // n_in  # the shared-expert gate is (1, hidden) in MLX, 1-D (hidden,) in GGUF
    return quantized_bytes(n_in, rows, ROUTER_PARAMS[0], ROUTER_PARAMS[1], "affine", dtype_bytes)


def tensor_nbytes(spec: ModelSpec, t: TensorSpec, p: Preset, dtype_bytes: int = 2) -> int:
    """Bytes of one tensor of ``spec`` (GGUF naming) in MLX mode ``p``."""
    if t.role in NOT_IN_MLX:
        return 0
    if p.mlx_mode is None:  # mlx-bf16 / mlx-fp16
        return _float_bytes(t, 2)
    router = _router_bytes(spec, t, p, dtype_bytes)
    if router is not None:
        return router
    if t.is_bias or len(t.shape) < 2 or any(s in t.name for s in NEVER_QUANTIZED) or "_norm" in t.name:
        return _float_bytes(t, dtype_bytes)
    n_in = t.shape[0]
    if n_in % int(p.group_size or 0):
        return _float_bytes(t, dtype_bytes)
    bits, group = int(p.bits or 0), int(p.group_size or 0)
    return quantized_bytes(n_in, t.n_elements // n_in, bits, group, p.mlx_mode, dtype_bytes)


def _mlx_preset(mode: str) -> Preset:
    p = get_preset(mode)
    if not p.is_mlx:
        raise UserError(f"'{p.name}' is a llama.cpp preset, not an MLX mode (mlx-4bit, mlx-8bit-g32, mlx-mxfp4 ...)")
    return p


def tensor_bytes(spec: ModelSpec, mode: str, dtype_bytes: int = 2) -> dict[str, int]:
    """Bytes of each tensor of ``spec`` after ``mlx_lm.convert`` with MLX ``mode`` (mlx-4bit, mlx-8bit-g32 ...).

    Keys are the spec's GGUF tensor names. ``dtype_bytes`` is the float size of what stays
    unquantized and of affine scales/biases (2 for bf16/fp16 models, the usual case).
    """
    p = _mlx_preset(mode)
    return {t.name: tensor_nbytes(spec, t, p, dtype_bytes) for t in spec.tensors()}


def weights_bytes(spec: ModelSpec, mode: str, dtype_bytes: int = 2) -> int:
    """Total parameter bytes of ``spec`` in MLX ``mode``."""
    return sum(tensor_bytes(spec, mode, dtype_bytes).values())
