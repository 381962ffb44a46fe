"""A small, valid byte-level BPE vocabulary for synthetic models, in GGUF and Hugging Face form.

The same vocabulary goes into the GGUF tokenizer metadata (``tokenizer.ggml.*``, model ``gpt2``,
pre-tokenizer ``gpt-2``) and into ``tokenizer.json`` for MLX, so both engines tokenize a prompt the
same way. It is GPT-2's scheme (re-implemented here): 256 byte tokens (bytes shown as printable
unicode characters), merges that build longer tokens, and ChatML special tokens so chat templates
and /tokenize endpoints work. Any size from a few hundred to a real model's 150k+ tokens can be
made: merges grow words letter by letter ("Ġt", "Ġth", ...), so every token is reachable and
every token decodes to bytes (llama.cpp throws on characters outside the byte map).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cached_property

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
MIN_VOCAB = 256 + len(SPECIAL_TOKENS) + 27
DEFAULT_VOCAB = 2048

CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# GGUF token types (llama.h enum llama_token_type): 1 normal, 3 control.
TOKEN_NORMAL, TOKEN_CONTROL = 1, 3


def byte_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map: printable latin-1 bytes map to themselves, the rest
    (controls, space, ...) to code points from 256 upwards, in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


@dataclass(frozen=True)
class Vocab:
    """Tokens (id order), merges (rank order) and the special token ids."""

    tokens: tuple[str, ...]
    merges: tuple[str, ...]

    @property
    def size(self) -> int:
        """Number of tokens."""
        return len(self.tokens)

    def token_id(self, text: str) -> int:
        """Id of token ``text`` (special tokens sit at the end)."""
        return self._index[text]

    @cached_property
    def _index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    @property
    def bos_id(self) -> int:
        """``<|endoftext|>``: the BOS/padding token (not added to prompts)."""
        return self.token_id("<|endoftext|>")

    @property
    def eos_id(self) -> int:
        """``<|im_end|>``: end of a ChatML turn, the generation stop token."""
        return self.token_id("<|im_end|>")

    def token_types(self) -> list[int]:
        """GGUF token type per id."""
        n_normal = self.size - len(SPECIAL_TOKENS)
        return [TOKEN_NORMAL] * n_normal + [TOKEN_CONTROL] * len(SPECIAL_TOKENS)


def _merges(count: int) -> list[tuple[str, str]]:
    """The first ``count`` merges of the letter-by-letter scheme (breadth first, so ranks are short words first)."""
    space = byte_to_unicode()[ord(" ")]  # 'Ġ'
    letters = string.ascii_lowercase
    out: list[tuple[str, str]] = []
    level = [space, *letters]
    while len(out) < count:
        nxt = []
        for prefix in level:
            for c in letters:
                out.append((prefix, c))
                nxt.append(prefix + c)
                if len(out) == count:
                    return out
        level = nxt
    return out


def build_vocab(size: int = DEFAULT_VOCAB) -> Vocab:
    """A vocabulary of exactly ``size`` tokens: bytes, merges, then the special tokens."""
    if size < MIN_VOCAB:
        raise ValueError(f"vocab size must be at least {MIN_VOCAB}, got {size}")
    byte_tokens = [byte_to_unicode()[b] for b in range(256)]
    merges = _merges(size - 256 - len(SPECIAL_TOKENS))
    tokens = byte_tokens + [a + b for a, b in merges] + list(SPECIAL_TOKENS)
    return Vocab(tokens=tuple(tokens), merges=tuple(f"{a} {b}" for a, b in merges))


def tokenizer_json(vocab: Vocab) -> dict:
    """Hugging Face ``tokenizer.json`` (tokenizers' BPE model with GPT-2 byte-level pre-tokenizer)."""
    n_normal = vocab.size - len(SPECIAL_TOKENS)
    added = [
        {"id": n_normal + k, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for k, t in enumerate(SPECIAL_TOKENS)
    ]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": {t: i for i, t in enumerate(vocab.tokens[:n_normal])},
            "merges": list(vocab.merges),
        },
    }


def tokenizer_config(vocab: Vocab, context_length: int) -> dict:
    """Hugging Face ``tokenizer_config.json`` matching :func:`tokenizer_json` (no BOS added)."""
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": False,
        "add_eos_token": False,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "model_max_length": context_length or 32768,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
    }


def gguf_kv(vocab: Vocab) -> list[tuple[str, str, object]]:
    """GGUF tokenizer metadata as (key, gguf value type, value) triples."""
    return [
        ("tokenizer.ggml.model", "str", "gpt2"),
        ("tokenizer.ggml.pre", "str", "gpt-2"),
        ("tokenizer.ggml.tokens", "arr_str", list(vocab.tokens)),
        ("tokenizer.ggml.token_type", "arr_i32", vocab.token_types()),
        ("tokenizer.ggml.merges", "arr_str", list(vocab.merges)),
        ("tokenizer.ggml.bos_token_id", "u32", vocab.bos_id),
        ("tokenizer.ggml.eos_token_id", "u32", vocab.eos_id),
        ("tokenizer.ggml.padding_token_id", "u32", vocab.bos_id),
        ("tokenizer.ggml.add_bos_token", "bool", False),
        ("tokenizer.ggml.add_eos_token", "bool", False),
        ("tokenizer.chat_template", "str", CHAT_TEMPLATE),
    ]
