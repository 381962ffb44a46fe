"""Test helper: write a small GGUF that llama.cpp loads, from any ModelSpec (random F16/F32 weights).

Reusable knowledge for the synth engineer (facts from llama.cpp's loader, src/llama-model.cpp,
src/models/<arch>.cpp and src/llama-vocab.cpp, vendored by llama-cpp-python 0.3.36):
- Tensor names/shapes: ``spec.tensors()`` (GGUF order); numpy arrays take the reversed shape.
- Metadata: ``{arch}.context_length / embedding_length / block_count / attention.head_count /
  attention.layer_norm_rms_epsilon`` are required; head_count_kv, key_length, value_length,
  feed_forward_length, rope.dimension_count as the architecture reads them (see ``hparams``).
- Tokenizer: ``tokenizer.ggml.model = "llama"`` (SentencePiece) needs only ``tokens``, ``scores``
  and ``token_type``; the token count must equal token_embd's second dimension. Byte tokens
  ``<0x00>``..``<0xFF>`` (type 6) let any text tokenize by byte fallback.
- deepseek2 (MLA): head_count_kv = 1, key_length = kv_lora_rank + rope, value_length = kv_lora_rank,
  key_length_mla / value_length_mla = per-head q/k and v sizes; expert_gating_func 2 (sigmoid) with
  exp_probs_b.
- qwen3next / qwen35moe: ssm.* keys (conv_kernel, inner_size = v_heads*v_dim, state_size = head dim,
  time_step_rank = v heads, group_count = k heads), full_attention_interval; qwen35moe also needs
  rope.dimension_sections (4 ints).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tokbench.modelspec.model import ModelSpec

SPECIALS = ["<unk>", "<s>", "</s>"]


def tokenizer_tokens(vocab: int) -> tuple[list[str], list[float], list[int]]:
    """A SentencePiece-style vocab of exactly ``vocab`` tokens: specials, 256 byte tokens, fillers."""
    if vocab < len(SPECIALS) + 256:
        raise ValueError(f"vocab {vocab} too small for specials + byte tokens")
    tokens = SPECIALS + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    tokens += [f"\u2581t{i}" for i in range(vocab - len(tokens))]
    types += [1] * (vocab - len(types))
    scores = [0.0] * 3 + [0.0] * 256 + [-float(i) for i in range(vocab - 259)]
    return tokens, scores, types


def hparams(spec: ModelSpec) -> dict[str, object]:
    """``{arch}.*`` metadata (without the arch prefix) that llama.cpp reads for ``spec``."""
    kv: dict[str, object] = {
        "context_length": spec.context_length or 4096,
        "embedding_length": spec.hidden,
        "block_count": spec.n_layers,
        "feed_forward_length": spec.intermediate or spec.expert_ffn,
        "attention.head_count": spec.n_heads,
        "attention.head_count_kv": spec.n_kv_heads,
        "attention.key_length": spec.head_dim,
        "attention.value_length": spec.head_dim,
        "attention.layer_norm_rms_epsilon": 1e-6,
        "rope.dimension_count": spec.n_rot,
        "rope.freq_base": 10000.0,
    }
    if spec.is_moe:
        kv.update({"expert_count": spec.n_experts, "expert_used_count": spec.n_experts_used,
                   "expert_feed_forward_length": spec.expert_ffn})
    if spec.sliding_window:
        kv["attention.sliding_window"] = spec.sliding_window
    if spec.arch in ("qwen3next", "qwen35moe"):
        kv.update({"expert_shared_feed_forward_length": spec.shared_expert_ffn,
                   "ssm.conv_kernel": spec.conv_kernel, "ssm.inner_size": spec.linear_v_heads * spec.linear_v_dim,
                   "ssm.state_size": spec.linear_k_dim, "ssm.time_step_rank": spec.linear_v_heads,
                   "ssm.group_count": spec.linear_k_heads})
        interval = next((i + 1 for i, k in enumerate(spec.kinds) if k == "full"), spec.n_layers)
        kv["full_attention_interval"] = interval
        if spec.arch == "qwen35moe":
            kv["rope.dimension_sections"] = list(spec.rope_sections or (spec.n_rot // 6, spec.n_rot // 6, spec.n_rot // 2 - 2 * (spec.n_rot // 6), 0))
    if spec.arch == "deepseek2":
        kv.update({"attention.head_count_kv": 1, "attention.key_length": spec.kv_lora_rank + spec.qk_rope_dim,
                   "attention.value_length": spec.kv_lora_rank, "attention.key_length_mla": spec.head_dim,
                   "attention.value_length_mla": spec.v_head_dim, "attention.q_lora_rank": spec.q_lora_rank,
                   "attention.kv_lora_rank": spec.kv_lora_rank, "leading_dense_block_count": spec.n_dense_layers,
                   "expert_shared_count": spec.shared_expert_ffn // max(spec.expert_ffn, 1),
                   "expert_weights_norm": True, "expert_gating_func": 2 if spec.expert_probs_bias else 1,
                   "expert_weights_scale": 1.0})
    return kv


def _add(writer, key: str, value: object) -> None:
    if isinstance(value, bool):
        writer.add_bool(key, value)
    elif isinstance(value, int):
        writer.add_uint32(key, value)
    elif isinstance(value, float):
        writer.add_float32(key, value)
    elif isinstance(value, list):
        writer.add_array(key, value)
    else:
        writer.add_string(key, str(value))


def write_spec_gguf(spec: ModelSpec, path: Path | str, dtype: str = "F32", seed: int = 0, file_type: int | None = None) -> Path:
    """Write ``spec`` as a GGUF with random weights (2-D+ tensors in ``dtype``, 1-D in F32)."""
    import gguf

    rng = np.random.default_rng(seed)
    path = Path(path)
    writer = gguf.GGUFWriter(str(path), spec.arch)
    writer.add_name(spec.name)
    writer.add_file_type(file_type if file_type is not None else (1 if dtype == "F16" else 0))
    for key, value in hparams(spec).items():
        _add(writer, f"{spec.arch}.{key}", value)
    tokens, scores, types = tokenizer_tokens(spec.vocab)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    for t in spec.tensors():
        data = rng.standard_normal(tuple(reversed(t.shape)), dtype=np.float32) * 0.02
        if t.role in ("ssm_a",):
            data = -np.abs(data) - 0.5  # a negative decay keeps the recurrence stable
        if len(t.shape) >= 2 and dtype == "F16":
            data = data.astype(np.float16)
        writer.add_tensor(t.name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
