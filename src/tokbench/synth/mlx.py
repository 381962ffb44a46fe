"""MLX model directories (config.json, safetensors shards, tokenizer files) for mlx-lm.

Weights use Hugging Face names and mlx-lm's own layout after ``sanitize``: linear weights are
``[out, in]``, routed experts are stacked as ``mlp.switch_mlp.{gate,up,down}_proj.weight``
``[experts, out, in]`` (mlx_lm/models/qwen3_moe.py). Affine quantization follows
``mlx.core.quantize``: ``weight`` is uint32 ``[.., out, in * bits / 32]`` (packed), ``scales`` and
``biases`` are ``[.., out, in / group]`` in the model's float dtype; ``config["quantization"]``
holds ``group_size``/``bits`` and per-layer overrides. As in ``mlx_lm.convert``, a layer is quantized
when its input width is a multiple of the group size, and MoE routers get 8 bits where the model's
quant_predicate says so (rules shared with tokbench.quant.mlx, so bytes written equal its count).
mlx-lm decides per layer from the presence of ``<layer>.scales``. Per-architecture names, shapes
and config keys (gpt-oss, gemma3, qwen3_next ...) live in :mod:`tokbench.synth.mlx_arch`.

Safetensors (header length, JSON header, raw little-endian data) is written by hand so tensor data
streams from random pools: memory stays flat for any size; files over 5 GB are sharded.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tokbench.errors import UserError
from tokbench.quant import mlx as qmlx
from tokbench.quant.presets import Preset, mlx_presets
from tokbench.modelspec.model import ModelSpec, TensorSpec
from tokbench.synth.blocks import POOL_BYTES, TARGET, cycle, is_norm_tensor
from tokbench.synth.gguf import check_disk
from tokbench.synth.mlx_arch import ARCHS, arch_config, hf_name, merged_into, mlx_shape, wrap_config
from tokbench.synth.vocab import build_vocab, tokenizer_config, tokenizer_json

SHARD_BYTES = 5 << 30
# GGUF arch -> mlx-lm model_type this writer supports.
MLX_MODEL_TYPES = {arch: model_type for arch, (model_type, _) in ARCHS.items()}


@dataclass(frozen=True)
class MlxTensor:
    """One safetensors entry: name, dtype (BF16/F16/U32), shape and the pool it draws from."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    kind: str  # "weight", "norm", "packed", "scales", "biases"

    @property
    def nbytes(self) -> int:
        """Size of the raw data."""
        return int(np.prod(self.shape)) * (4 if self.dtype == "U32" else 2)


def _quant_params(spec: ModelSpec, t: TensorSpec, preset: Preset) -> tuple[int, int] | None:
    """(bits, group) when mlx_lm.convert would quantize this tensor's layer, else None.

    The rules are tokbench.quant.mlx's (leaf modules with ``to_quantized`` whose input width is a
    multiple of the mode's group size; routers per architecture), so written bytes match its count.
    """
    if preset.mlx_mode is None or t.is_bias or len(t.shape) < 2 and t.role != "ffn_gate_inp_shexp":
        return None
    if "_norm" in t.name or any(s in t.name for s in qmlx.NEVER_QUANTIZED):
        return None
    bits, group = int(preset.bits or 4), int(preset.group_size or 64)
    if t.shape[0] % group:
        return None
    if t.role in ("ffn_gate_inp", "ffn_gate_inp_shexp"):
        if spec.arch in qmlx.ROUTER_UNQUANTIZED_ARCHS:
            return None
        if spec.arch in qmlx.ROUTER_8BIT_ARCHS:
            bits, group = qmlx.ROUTER_PARAMS
            return (bits, group) if t.shape[0] % group == 0 else None
        if t.role == "ffn_gate_inp_shexp":
            return None
    return bits, group


def _spec_tensors(spec: ModelSpec) -> list[TensorSpec]:
    """GGUF tensors that become mlx-lm parameters: tied output dropped, merged tensors folded away."""
    merged = merged_into(spec.arch)
    return [t for t in spec.tensors()
            if not (t.role == "output" and spec.tie_embeddings) and t.role not in merged]


def mlx_tensors(spec: ModelSpec, preset: Preset) -> tuple[list[MlxTensor], dict]:
    """Every safetensors entry for ``spec`` and the ``quantization`` config (None keys when bf16)."""
    dtype = "F16" if preset.mlx_dtype == "float16" else "BF16"
    out: list[MlxTensor] = []
    overrides: dict = {}
    for t in _spec_tensors(spec):
        name = hf_name(t, spec.arch)
        shape = mlx_shape(t, spec)
        q = _quant_params(spec, t, preset)
        if q is None:
            out.append(MlxTensor(name, dtype, shape, "norm" if is_norm_tensor(t.name) else "weight"))
            continue
        bits, group = q
        base = name[: -len(".weight")]
        if (bits, group) != (preset.bits, preset.group_size):
            overrides[base] = {"group_size": group, "bits": bits}
        *lead, cols = shape
        out.append(MlxTensor(name, "U32", (*lead, cols * bits // 32), "packed"))
        out.append(MlxTensor(f"{base}.scales", dtype, (*lead, cols // group), f"scales{bits}"))
        out.append(MlxTensor(f"{base}.biases", dtype, (*lead, cols // group), f"biases{bits}"))
    quant = None
    if preset.mlx_mode is not None:
        quant = {"group_size": preset.group_size, "bits": preset.bits, "mode": preset.mlx_mode, **overrides}
    return out, quant


def _pool(kind: str, dtype: str, seed: int) -> memoryview:
    """A few MB of values for one kind of tensor (weights ~N(0, 0.02), norms ~1, sane scales)."""
    rng = np.random.default_rng([seed, sum(map(ord, kind)), len(kind)])
    n = POOL_BYTES // 4
    if kind == "packed":
        return memoryview(rng.integers(0, 2**32, n, dtype=np.uint32).tobytes())
    if kind.startswith(("scales", "biases")):
        levels = 2 ** int(kind[6:]) - 1
        x = np.exp(rng.uniform(np.log(0.5), np.log(2.0), n)) * 2 * TARGET / levels  # weight = s*q + b
        x = x if kind.startswith("scales") else -x * levels / 2
    else:
        x = rng.normal(0.0, TARGET, n) + (1.0 if kind == "norm" else 0.0)
    x = x.astype(np.float32)
    if dtype == "F16":
        return memoryview(x.astype("<f2").tobytes())
    return memoryview((x.view(np.uint32) >> 16).astype("<u2").tobytes())


def _shards(tensors: list[MlxTensor]) -> list[list[MlxTensor]]:
    shards: list[list[MlxTensor]] = [[]]
    size = 0
    for t in tensors:
        if shards[-1] and size + t.nbytes > SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append(t)
        size += t.nbytes
    return shards


def _header(tensors: list[MlxTensor]) -> bytes:
    meta: dict = {"__metadata__": {"format": "mlx"}}
    offset = 0
    for t in tensors:
        meta[t.name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    raw = json.dumps(meta, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # data starts 8-byte aligned
    return struct.pack("<Q", len(raw)) + raw


def _write_shard(path: Path, tensors: list[MlxTensor], seed: int, pools: dict) -> None:
    part = path.with_name(path.name + ".part")
    try:
        with open(part, "wb", buffering=0) as fh:
            fh.write(_header(tensors))
            for t in tensors:
                key = (t.kind, t.dtype)
                if key not in pools:
                    pools[key] = _pool(t.kind, t.dtype, seed)
                for piece in cycle(pools[key], 4, t.nbytes, seed, t.name):
                    view = piece
                    while view:
                        view = view[fh.write(view):]
        part.replace(path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def hf_config(spec: ModelSpec, quant: dict | None, vocab_size: int) -> dict:
    """config.json for mlx-lm's model class of ``spec.arch``."""
    cfg = {
        "model_type": MLX_MODEL_TYPES[spec.arch], "architectures": ["TokbenchSynthetic"],
        "hidden_size": spec.hidden, "num_hidden_layers": spec.n_layers,
        "intermediate_size": spec.intermediate or spec.expert_ffn, "num_attention_heads": spec.n_heads,
        "num_key_value_heads": spec.n_kv_heads, "head_dim": spec.head_dim, "rms_norm_eps": 1e-6,
        "vocab_size": vocab_size, "rope_theta": 1000000.0, "tie_word_embeddings": spec.tie_embeddings,
        "max_position_embeddings": spec.context_length or 4096, "attention_bias": spec.qkv_bias,
        "torch_dtype": "bfloat16",
    }
    if spec.is_moe:
        cfg.update(num_experts=spec.n_experts, num_experts_per_tok=spec.n_experts_used, decoder_sparse_step=1,
                   mlp_only_layers=[], moe_intermediate_size=spec.expert_ffn, norm_topk_prob=True)
    cfg.update(arch_config(spec))
    if quant:
        cfg["quantization"] = quant
        cfg["quantization_config"] = quant
    return cfg


def synth_mlx(spec: ModelSpec, preset: Preset, out: Path, seed: int = 0) -> Path:
    """Write an MLX model directory for ``spec`` in ``preset`` (an MLX mode); returns ``out``."""
    if not preset.is_mlx or (preset.mlx_mode not in (None, "affine")):
        raise UserError(f"MLX synthesis supports modes mlx-bf16/mlx-fp16 and affine mlx-<bits>bit[-g<group>]; "
                        f"got '{preset.name}' (MLX modes: {', '.join(m for m in mlx_presets() if 'fp' not in m)})")
    if spec.arch not in MLX_MODEL_TYPES:
        raise UserError(f"cannot synthesize architecture '{spec.arch}' for MLX; supported: {', '.join(MLX_MODEL_TYPES)}")
    tensors, quant = mlx_tensors(spec, preset)
    vocab = build_vocab(spec.vocab)
    out.mkdir(parents=True, exist_ok=True)
    check_disk(out / "model.safetensors", sum(t.nbytes for t in tensors) + (8 << 20))
    shards = _shards(tensors)
    names = ["model.safetensors"] if len(shards) == 1 else [
        f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    pools: dict = {}
    for name, shard in zip(names, shards):
        _write_shard(out / name, shard, seed, pools)
    if len(shards) > 1:
        index = {"metadata": {"total_size": sum(t.nbytes for t in tensors)},
                 "weight_map": {t.name: n for n, s in zip(names, shards) for t in s}}
        (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))
    cfg = hf_config(spec, quant, vocab.size)
    cfg["eos_token_id"] = vocab.eos_id
    cfg = wrap_config(spec, cfg)
    (out / "config.json").write_text(json.dumps(cfg, indent=1))
    (out / "tokenizer.json").write_text(json.dumps(tokenizer_json(vocab), ensure_ascii=False))
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(vocab, spec.context_length), indent=1))
    return out
