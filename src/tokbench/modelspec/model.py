"""ModelSpec: everything downstream needs to know about a model's architecture, and nothing else.

A ModelSpec is built from a catalog id, a Hugging Face config.json, a GGUF header or an MLX
directory (see :mod:`tokbench.modelspec.readers`). Planner, synth and reports take a ModelSpec, never a
file. Tensor shapes use GGUF's order: ``shape[0]`` is the row length (the input width of a matrix),
so a projection from ``hidden`` to ``n_heads * head_dim`` is ``(hidden, n_heads * head_dim)`` and a
stack of experts is ``(in, out, n_experts)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

# Layer kinds. "full": global softmax attention with a KV cache. "sliding": softmax attention over a
# window (Llama 4's chunked attention too: llama.cpp sizes its cache the same way). "linear": recurrent
# linear attention (Gated DeltaNet) with a constant per-sequence state. "mla": DeepSeek multi-head
# latent attention (compressed KV cache). "dsa": MLA plus DeepSeek-V3.2's lightning indexer (sparse
# attention over the top-k tokens; the indexer keeps one more key per token). "mamba": a Mamba-2 SSM
# layer (Nemotron-H) with a constant per-sequence conv + SSM state. "ffn": a layer with no token
# mixer at all (Nemotron-H's MLP/MoE-only layers): no cache, no state.
LAYER_KINDS = ("full", "sliding", "linear", "mla", "dsa", "mamba", "ffn")
RECURRENT_KINDS = ("linear", "mamba")  # constant per-sequence state instead of a KV cache


class _cached:
    """A per-instance cached attribute (functools.cached_property without its lock, which costs
    ~4 us per first access on Python 3.11: the catalog's 24k tensors are asked once each per plan)."""

    def __init__(self, fn) -> None:
        self.fn, self.name, self.__doc__ = fn, fn.__name__, fn.__doc__

    def __get__(self, obj, cls=None):
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)  # the instance dict shadows this descriptor from now on
        return value


@dataclass(frozen=True)
class TensorSpec:
    """One weight tensor as it appears in a GGUF file.

    ``role`` is the tensor's name without its block prefix and ``.weight``/``.bias`` suffix
    (``attn_q``, ``ffn_down_exps``, ``token_embd``...), which is what quantization rules and the
    bytes-read-per-token model key on. ``ggml_type`` is set only when the spec came from a real
    file (GGUF header), where the file's own type is the truth.
    """

    name: str
    shape: tuple[int, ...]
    layer: int | None = None
    ggml_type: str | None = None

    @property
    def n_elements(self) -> int:
        """Number of weights in the tensor."""
        return prod(self.shape)

    @_cached  # asked once per tensor per plan row; a frozen dataclass allows caching in __dict__
    def role(self) -> str:
        """Name without ``blk.N.`` and ``.weight``/``.bias``: ``blk.3.attn_q.weight`` -> ``attn_q``."""
        parts = self.name.split(".")
        if parts[0] == "blk":
            parts = parts[2:]
        if parts and parts[-1] in ("weight", "bias"):
            parts = parts[:-1]
        return ".".join(parts)

    @property
    def is_bias(self) -> bool:
        """True for ``.bias`` tensors (never quantized)."""
        return self.name.endswith(".bias")

    @_cached
    def is_expert(self) -> bool:
        """True for stacked routed-expert tensors (``*_exps``), of which a token reads only top-k slices."""
        return "_exps" in self.name


@dataclass(frozen=True)
class ModelSpec:
    """Architecture facts of one model (field names follow what users and llama.cpp call them)."""

    name: str
    arch: str  # GGUF architecture name: llama, qwen2, qwen3, qwen3moe, qwen3next, qwen35moe, gpt-oss, deepseek2, gemma3
    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab: int
    intermediate: int = 0  # dense FFN width (0 when every layer is MoE)
    tie_embeddings: bool = False
    qkv_bias: bool = False
    qk_norm: bool = False
    attn_output_gate: bool = False  # Qwen3-Next / Qwen3.5: q projection also emits a gate (2x wide)
    layer_kinds: tuple[str, ...] = ()  # one entry per layer, from LAYER_KINDS; empty = all "full"
    sliding_window: int = 0
    # Mixture of experts
    n_experts: int = 0
    n_experts_used: int = 0
    expert_ffn: int = 0
    shared_expert_ffn: int = 0  # total width of the shared expert(s); 0 = none
    n_dense_layers: int = 0  # leading layers with a dense FFN (DeepSeek first_k_dense_replace)
    # Linear attention (Gated DeltaNet)
    linear_k_heads: int = 0
    linear_v_heads: int = 0
    linear_k_dim: int = 0
    linear_v_dim: int = 0
    conv_kernel: int = 0
    # Multi-head latent attention (DeepSeek)
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_rope_dim: int = 0
    qk_nope_dim: int = 0
    v_head_dim: int = 0
    context_length: int = 0
    source: str = ""
    # Added for exact GGUF layouts and KV/state math (tokbench.modelspec.tensors, plan):
    rope_dim: int = 0  # rotary dims per head when partial (Qwen3-Next: 64 of 256); 0 = head_dim
    rope_sections: tuple[int, ...] = ()  # M-RoPE sections (Qwen3.5: GGUF rope.dimension_sections)
    expert_probs_bias: bool = False  # DeepSeek-V3 routing bias (GGUF exp_probs_b.bias per MoE layer)
    weights_bytes: int | None = None  # exact tensor-data bytes when read from files (GGUF, safetensors)
    # Added for issue 12's architectures (tokbench.modelspec.tensors documents each layout):
    moe_layer_step: int = 1  # Llama 4 interleave_moe_layer_step: layer i is MoE when (i + 1) % step == 0
    ffn_with_moe: bool = False  # Gemma 4 26B-A4B: a dense FFN and the routed experts in every layer
    gated_ffn: bool = True  # False: up/down only (Nemotron-H's squared-ReLU MLPs and experts)
    qk_norm_full: bool = False  # MiniMax-M2: q/k norms over all heads (n_heads*head_dim), not per head
    head_dim_swa: int = 0  # Gemma 4: head size of the sliding layers (0 = head_dim)
    n_kv_heads_swa: int = 0  # Gemma 4: KV heads of the sliding layers (0 = n_kv_heads)
    attn_k_eq_v: bool = False  # Gemma 4 26B/31B: full-attention layers use K as V (no attn_v)
    kv_shared_layers: int = 0  # Gemma 4: the last N layers reuse earlier layers' KV (no K/V, no cache)
    wide_ffn_shared: bool = False  # Gemma 4 E2B/E4B: KV-shared layers have a 2x wide FFN
    per_layer_embd: int = 0  # Gemma 4 E2B/E4B: per-layer token embedding width
    index_n_heads: int = 0  # DeepSeek-V3.2 lightning indexer (dsa layers)
    index_head_dim: int = 0
    index_topk: int = 0
    n_mtp_layers: int = 0  # multi-token-prediction blocks after the last layer (not in tensors())
    # Weights a file holds that the text model does not load by default: (label, bytes), e.g.
    # ("mtp", ...) for MTP blocks, ("vision", ...) for a multimodal tower. Counted apart, never summed.
    apart: tuple[tuple[str, int], ...] = ()
    # Filled when the spec was read from a file that fixes the tensors (GGUF header): the exact list.
    tensor_list: tuple[TensorSpec, ...] | None = field(default=None, compare=False, repr=False)
    file_type: str | None = None  # the GGUF file's own quantization (e.g. "Q4_K_M") when known

    def __post_init__(self) -> None:
        if self.layer_kinds and len(self.layer_kinds) != self.n_layers:
            raise ValueError(f"{self.name}: {len(self.layer_kinds)} layer kinds for {self.n_layers} layers")
        bad = set(self.layer_kinds) - set(LAYER_KINDS)
        if bad:
            raise ValueError(f"{self.name}: unknown layer kinds {sorted(bad)}")

    @property
    def kinds(self) -> tuple[str, ...]:
        """Per-layer kind, defaulting every layer to full attention."""
        return self.layer_kinds or ("full",) * self.n_layers

    @property
    def n_rot(self) -> int:
        """Rotary dimensions per head (MLA: the decoupled rope part of q/k)."""
        if self.kv_lora_rank:
            return self.qk_rope_dim
        return self.rope_dim or self.head_dim

    @property
    def linear_conv_channels(self) -> int:
        """Channels of a Gated DeltaNet layer's causal conv: q, k and v (2*k_heads*k_dim + v_heads*v_dim)."""
        return 2 * self.linear_k_heads * self.linear_k_dim + self.linear_v_heads * self.linear_v_dim

    @property
    def linear_conv_state_elems(self) -> int:
        """Conv state elements one linear-attention layer keeps per sequence: (d_conv - 1) * channels."""
        return max(self.conv_kernel - 1, 0) * self.linear_conv_channels

    @property
    def linear_ssm_state_elems(self) -> int:
        """Recurrent state elements one linear-attention layer keeps per sequence: v_heads * k_dim * v_dim."""
        return self.linear_v_heads * self.linear_k_dim * self.linear_v_dim

    def layer_kind(self, i: int) -> str:
        """Kind of layer ``i``: full, sliding, linear or mla."""
        return self.kinds[i]

    @property
    def is_moe(self) -> bool:
        """True when the model routes tokens to experts."""
        return self.n_experts > 0

    def is_moe_layer(self, i: int) -> bool:
        """True when layer ``i`` has routed experts (DeepSeek keeps its first layers dense, Llama 4
        interleaves dense and MoE layers, Nemotron-H routes only in its "ffn" layers)."""
        if not self.is_moe or i < self.n_dense_layers:
            return False
        return (i + 1) % max(self.moe_layer_step, 1) == 0

    def has_kv(self, i: int) -> bool:
        """True when layer ``i`` allocates its own KV cache (Gemma 4's last layers share earlier ones)."""
        return self.kinds[i] not in ("linear", "mamba", "ffn") and i < self.n_layers - self.kv_shared_layers

    def tensors(self) -> tuple[TensorSpec, ...]:
        """Every weight tensor, in GGUF names and shapes (read from the file when there is one)."""
        if self.tensor_list is not None:
            return self.tensor_list
        built = self.__dict__.get("_tensors")  # built once per spec (a plan asks ~4 times per quant)
        if built is None:
            from tokbench.modelspec.tensors import tensors_for  # local: keeps import of ModelSpec cheap

            built = self.__dict__["_tensors"] = tensors_for(self)  # frozen fields are untouched
        return built

    def n_params(self) -> int:
        """Total number of weights."""
        return sum(t.n_elements for t in self.tensors())

    def n_active_params(self) -> int:
        """Weights a token touches: all but the token embeddings (gathered) and the unrouted experts."""
        total = 0
        for t in self.tensors():
            if t.role in ("token_embd", "per_layer_token_embd"):
                continue
            total += t.n_elements * self.n_experts_used // self.n_experts if t.is_expert else t.n_elements
        return total
