"""Tiny loadable models for engine tests: GGUF through tokbench.synth; an MLX dir written here
(with a word-level tokenizer) until tokbench.synth writes MLX models.
"""

from __future__ import annotations

from pathlib import Path

WORDS = ("the", "a", "of", "and", "to", "in", "is", "it", "that", "on", "for", "with", "as", "was",
         "he", "be", "at", "by", "this", "had", "not", "are", "but", "from", "or", "have", "an")


def tiny_gguf(path: Path, quant: str = "F16", n_layer: int = 2, hidden: int = 64) -> Path:
    """A tiny llama GGUF written by tokbench.synth (random weights, 512-token vocabulary)."""
    from tokbench.modelspec.model import ModelSpec
    from tokbench.synth import synthesize

    spec = ModelSpec(name="tiny-test", arch="llama", n_layers=n_layer, hidden=hidden, n_heads=4, n_kv_heads=2,
                     head_dim=hidden // 4, vocab=512, intermediate=2 * hidden, context_length=8192, source="test")
    return synthesize(spec, quant, path, vocab=512)


def tiny_mlx(out: Path, n_layer: int = 2, hidden: int = 64, seed: int = 0) -> Path:
    """Write a tiny llama MLX model dir (config.json, model.safetensors, a word-level tokenizer)."""
    import json

    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import llama
    from tokenizers import Tokenizer, models, pre_tokenizers

    out.mkdir(parents=True, exist_ok=True)
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for w in WORDS + tuple("abcdefghijklmnopqrstuvwxyz0123456789:.,"):
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}))
    cfg = {"model_type": "llama", "hidden_size": hidden, "num_hidden_layers": n_layer,
           "intermediate_size": 2 * hidden, "num_attention_heads": 4, "num_key_value_heads": 2,
           "rms_norm_eps": 1e-5, "vocab_size": len(vocab), "tie_word_embeddings": False,
           "max_position_embeddings": 8192, "rope_theta": 10000.0, "eos_token_id": 2, "bos_token_id": 1}
    (out / "config.json").write_text(json.dumps(cfg))
    mx.random.seed(seed)
    model = llama.Model(llama.ModelArgs.from_dict(cfg))
    mx.save_safetensors(str(out / "model.safetensors"), dict(tree_flatten(model.parameters())))
    return out
