"""Memory: weight bytes per tensor, runtime overhead, and the memory a machine lets a model use.

Weights are exact: each tensor's bytes under the quantizer's own per-tensor type choice
(:mod:`tokbench.quant.llamacpp` for llama.cpp presets, :mod:`tokbench.quant.mlx` for MLX modes, the
file's own types for a GGUF read from disk). Overhead and usable memory are estimates whose basis
is stated next to the number (:data:`OVERHEAD_BASIS`, :func:`usable_memory`'s ``basis``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tokbench.errors import UserError
from tokbench.modelspec.model import ModelSpec

GiB = 2**30
MiB = 2**20

def parse_engine(name: str) -> str:
    """Canonical engine name from the one engine table (:mod:`tokbench.catalog.engines`); UserError with
    close matches for an unknown one, or for the generic ``openai`` endpoint, which names no engine."""
    from tokbench.catalog.engines import get_engine, plan_engines
    from tokbench.errors import unknown

    eng = get_engine(name)
    if eng.name not in plan_engines():
        raise unknown("engine", name, plan_engines())
    return eng.name


def canonical_quant(spec: ModelSpec, quant: str | None) -> str:
    """Canonical preset name; ``None``/``native`` mean the GGUF file's own types (UserError otherwise)."""
    from tokbench.quant.presets import NATIVE, parse_quant

    q = NATIVE if quant is None else parse_quant(quant)
    if q == NATIVE and not _has_file_types(spec):
        raise UserError(f"{spec.name}: quant 'native' needs a GGUF file; name a preset such as Q4_K_M")
    return q


def _has_file_types(spec: ModelSpec) -> bool:
    return spec.tensor_list is not None and all(t.ggml_type for t in spec.tensor_list)


def tensor_bytes(spec: ModelSpec, quant: str | None) -> dict[str, int]:
    """Bytes of every tensor of ``spec`` stored with ``quant`` (a preset name, or None/native for the file's)."""
    return {name: b for name, (_, b) in _typed_bytes(spec, quant).items()}


def _typed_bytes(spec: ModelSpec, quant: str | None) -> dict[str, tuple[str, int]]:
    """name -> (storage type, bytes): GGML type names for llama.cpp/GGUF, ``"mlx"`` for MLX modes."""
    from tokbench.quant.formats import tensor_nbytes
    from tokbench.quant.presets import NATIVE, PRESETS

    q = canonical_quant(spec, quant)
    if q == NATIVE:
        return {t.name: (t.ggml_type, tensor_nbytes(t.ggml_type, t.shape)) for t in spec.tensors()}
    if PRESETS[q].is_mlx:
        from tokbench.quant.mlx import tensor_bytes as mlx_bytes

        return {name: ("mlx", b) for name, b in mlx_bytes(spec, q).items()}
    from tokbench.quant.llamacpp import tensor_types

    types = tensor_types(spec, q)
    return {t.name: (types[t.name], tensor_nbytes(types[t.name], t.shape)) for t in spec.tensors()}


def kernel_class(type_name: str) -> str:
    """Which family of matrix kernels reads a tensor of this storage type (the speed model's classes).

    float: F32/F16/BF16 (plain loads); block: 32-weight blocks with one scale (Q4_0..Q8_0), the cheapest
    dequantization; kquant: 256-weight super-blocks with packed sub-block scales (Q2_K..Q6_K); table:
    4-bit codes into a 16-value table (IQ4_NL, IQ4_XS, MXFP4, NVFP4: ggml-cuda's vec_dot_*_q8_1 read them
    with get_int_from_table_16, a register shuffle); grid: codebook types whose codes index grids of 256 to
    2048 packed vectors with separate sign masks (IQ1_*, IQ2_*, IQ3_*: a memory gather per group of weights);
    mlx: MLX affine modes.
    """
    t = type_name.upper()
    if t in ("F32", "F16", "BF16", "F64"):
        return "float"
    if t == "MLX":
        return "mlx"
    if t.endswith("_K"):
        return "kquant"
    if t.startswith(("IQ1", "IQ2", "IQ3")):
        return "grid"
    if t.startswith("IQ") or "FP4" in t:
        return "table"
    return "block"


def expert_fraction(spec: ModelSpec, concurrency: int = 1) -> float:
    """Expected share of a layer's routed experts one decode step touches for ``concurrency`` sequences.

    With k of E experts picked per token and routing treated as independent draws, an expert is
    missed by all N tokens with probability (1 - k/E)^N, so the touched share is 1 - (1 - k/E)^N.
    """
    if not spec.n_experts:
        return 1.0
    p = spec.n_experts_used / spec.n_experts
    return 1.0 - (1.0 - p) ** max(1, concurrency)


@dataclass(frozen=True)
class WeightBytes:
    """Weight bytes of one model x quant: total, and what one decode step reads."""

    total: int
    embedding: int  # token_embd: gathered (one row per token), not streamed
    experts: int  # routed-expert stacks (all experts)
    dense: int  # everything else a token reads in full (attention, router, shared experts, head)
    # By kernel class (see kernel_class): what the speed model charges at each class's efficiency.
    dense_by_class: dict = field(default_factory=dict, compare=False)
    experts_by_class: dict = field(default_factory=dict, compare=False)
    n_mat: int = 0  # weight matrices read by a matrix-vector kernel each step (not the embedding)
    n_mat_id: int = 0  # stacked routed-expert matrices (one mul_mat_id kernel each)
    float_params: int = 0  # non-expert matrix weights stored as float (cuBLAS matmuls in prefill)

    def active(self, concurrency: int = 1, spec: ModelSpec | None = None) -> float:
        """Bytes one decode step streams: dense part + the touched share of the experts."""
        frac = expert_fraction(spec, concurrency) if spec is not None else 1.0
        return self.dense + self.experts * frac


def weight_bytes(spec: ModelSpec, quant: str | None, sizes: dict | None = None) -> WeightBytes:
    """Split ``spec``'s tensor bytes under ``quant`` into embedding / routed experts / the rest
    (``sizes``: the per-tensor (type, bytes) when the caller already has them)."""
    sizes = sizes if sizes is not None else _typed_bytes(spec, quant)
    emb = exp = dense = n_mat = n_id = float_p = 0
    by_dense: dict[str, int] = {}
    by_exp: dict[str, int] = {}
    for t in spec.tensors():
        ty, b = sizes[t.name]
        if t.role == "token_embd":
            emb += b
            continue
        cls = kernel_class(ty)
        if t.is_expert:
            exp += b
            by_exp[cls] = by_exp.get(cls, 0) + b
            n_id += len(t.shape) > 2
        else:
            dense += b
            by_dense[cls] = by_dense.get(cls, 0) + b
            is_mat = len(t.shape) > 1 and t.shape[1] > 1
            n_mat += is_mat
            float_p += t.n_elements if is_mat and cls == "float" else 0
    return WeightBytes(total=emb + exp + dense, embedding=emb, experts=exp, dense=dense, dense_by_class=by_dense,
                       experts_by_class=by_exp, n_mat=n_mat, n_mat_id=n_id, float_params=float_p)


# Runtime overhead ---------------------------------------------------------------------------------

OVERHEAD_BASIS = (
    "compute buffer ~ 4 B x n_ubatch(512) x (3 x widest FFN + 6 x hidden + q/k/v widths) activations "
    "(llama.cpp sizes it for one ubatch; flash attention assumed, so no n_ctx x n_heads score matrix) "
    "+ logits 4 B x vocab per sequence + a fixed runtime share (Metal/CUDA context, process: 512 MiB on "
    "GPUs, 128 MiB on CPU; vLLM/SGLang add CUDA graphs and the sampler: 2 GiB)"
)
_RUNTIME_FIXED = {"gpu": 512 * MiB, "cpu": 128 * MiB, "server": 2 * GiB}


def overhead_bytes(spec: ModelSpec, engine: str = "llama.cpp", concurrency: int = 1, device_kind: str = "apple",
                   n_ubatch: int = 512) -> int:
    """Estimate of the runtime's own memory besides weights and caches (see :data:`OVERHEAD_BASIS`)."""
    ffn = max(spec.intermediate, spec.expert_ffn * max(spec.n_experts_used, 1), spec.shared_expert_ffn)
    qkv = spec.n_heads * spec.head_dim * (2 if spec.attn_output_gate else 1) + 2 * spec.n_kv_heads * spec.head_dim
    linear = 2 * spec.linear_k_heads * spec.linear_k_dim + 2 * spec.linear_v_heads * spec.linear_v_dim
    activations = 4 * n_ubatch * (3 * ffn + 6 * spec.hidden + max(qkv, linear))
    logits = 4 * spec.vocab * max(1, concurrency)
    if engine in ("vllm", "sglang"):
        fixed = _RUNTIME_FIXED["server"]
    else:
        fixed = _RUNTIME_FIXED["cpu" if device_kind == "cpu" else "gpu"]
    return int(activations + logits + fixed)


# Usable memory ------------------------------------------------------------------------------------

# macOS caps what the GPU may wire (MTLDevice.recommendedMaxWorkingSetSize): about 2/3 of RAM up to
# 36 GB and 3/4 above, as reported by llama.cpp's Metal log line on many machines ("recommendedMax
# WorkingSetSize = 49152.00 MB" on 64 GB, 147456 MB on 192 GB); `sysctl iogpu.wired_limit_mb=N`
# raises it until reboot.
APPLE_SMALL_FRACTION = 2 / 3
APPLE_LARGE_FRACTION = 0.75
APPLE_SMALL_LIMIT_GB = 36
# What the OS and other programs keep on a unified-memory machine (default; --os-reserve-gb overrides).
DEFAULT_OS_RESERVE_GB = {"apple": 8.0, "unified": 8.0, "cpu": 4.0, "nvidia": 0.0, "amd": 0.0}
# Discrete GPUs: the CUDA context and driver take about 0.5 GiB of the card.
DISCRETE_RESERVE_GB = 0.5
# Servers that pre-allocate a fraction of GPU memory (vLLM --gpu-memory-utilization default 0.9;
# SGLang --mem-fraction-static is sized per GPU, about 0.88 on 80 GB cards).
SERVER_FRACTION = {"vllm": 0.90, "sglang": 0.88}


@dataclass(frozen=True)
class Usable:
    """Memory a model may use on a machine, and why."""

    memory_bytes: int
    usable_bytes: int
    basis: str


def apple_default_fraction(memory_gb: float) -> float:
    """macOS's default GPU working-set share of RAM for a Mac with ``memory_gb``."""
    return APPLE_SMALL_FRACTION if memory_gb <= APPLE_SMALL_LIMIT_GB else APPLE_LARGE_FRACTION


def usable_memory(hw, engine: str = "llama.cpp", gpu_limit_gb: float | None = None,
                  gpu_fraction: float | None = None, os_reserve_gb: float | None = None) -> Usable:
    """Usable bytes on ``hw`` (a catalog Hardware) for ``engine``, with the rule applied.

    ``gpu_limit_gb`` plays iogpu.wired_limit_mb (Apple) or a VRAM cap; ``gpu_fraction`` overrides the
    default share; ``os_reserve_gb`` what the OS keeps on unified-memory machines.
    """
    total = hw.memory_bytes
    family = hw.kind if hw.kind in ("apple", "cpu") else ("unified" if hw.unified_memory else hw.kind)
    reserve_gb = DEFAULT_OS_RESERVE_GB.get(family, 0.0) if os_reserve_gb is None else os_reserve_gb
    if gpu_limit_gb is not None:
        limit, basis = gpu_limit_gb * GiB, f"GPU limit set to {gpu_limit_gb:g} GiB"
    elif hw.kind == "apple":
        frac = gpu_fraction if gpu_fraction is not None else apple_default_fraction(hw.memory_gb)
        limit = frac * total
        basis = f"{frac:.0%} of {hw.memory_gb:g} GiB (macOS GPU working-set limit; raise with iogpu.wired_limit_mb)"
    elif gpu_fraction is not None:
        limit, basis = gpu_fraction * total, f"{gpu_fraction:.0%} of {hw.memory_gb:g} GiB"
    elif engine in SERVER_FRACTION and hw.kind == "nvidia":
        frac = SERVER_FRACTION[engine]
        limit, basis = frac * total, f"{frac:.0%} of {hw.memory_gb:g} GiB ({engine} pre-allocates that share)"
    elif not hw.unified_memory and hw.kind in ("nvidia", "amd"):
        limit = total - DISCRETE_RESERVE_GB * GiB
        basis = f"{hw.memory_gb:g} GiB less {DISCRETE_RESERVE_GB:g} GiB driver/context"
    else:
        limit, basis = float(total), f"{hw.memory_gb:g} GiB"
    if reserve_gb and limit > total - reserve_gb * GiB:
        limit = total - reserve_gb * GiB
        basis += f", capped at RAM less {reserve_gb:g} GiB OS reserve"
    return Usable(memory_bytes=int(total), usable_bytes=int(max(limit, 0)), basis=basis)
