"""Synthetic vocabulary: exact size, valid merges, and a Hugging Face tokenizer that round-trips."""

import json

import pytest

from tokbench.synth.vocab import MIN_VOCAB, SPECIAL_TOKENS, build_vocab, byte_to_unicode, tokenizer_json


def test_byte_map_is_a_bijection_onto_printable_chars():
    m = byte_to_unicode()
    assert len(set(m.values())) == 256
    assert all(c.isprintable() and not c.isspace() for c in m.values())
    assert m[ord("a")] == "a" and m[ord(" ")] == "\u0120"


@pytest.mark.parametrize("size", [MIN_VOCAB, 2048, 151936])
def test_size_merges_and_specials(size):
    v = build_vocab(size)
    assert v.size == size and len(set(v.tokens)) == size
    assert v.tokens[-len(SPECIAL_TOKENS):] == SPECIAL_TOKENS
    known = set(v.tokens[:256])
    for merge in v.merges[:5000]:
        a, b = merge.split(" ")
        assert a in known and b in known  # each merge only joins tokens that exist before it
        known.add(a + b)
    assert v.eos_id == size - 1 and v.bos_id == size - 3


def test_too_small_rejected():
    with pytest.raises(ValueError):
        build_vocab(MIN_VOCAB - 1)


def test_hf_tokenizer_roundtrip():
    tokenizers = pytest.importorskip("tokenizers")
    v = build_vocab(1000)
    tok = tokenizers.Tokenizer.from_str(json.dumps(tokenizer_json(v)))
    text = "Hello world, the quick brown fox! 123 \u00e9t\u00e9 \U0001F600"
    ids = tok.encode(text).ids
    assert max(ids) < v.size
    assert tok.decode(ids) == text
    assert len(tok.encode(" the the the").ids) < len(" the the the")  # merges are used
    assert tok.encode("<|im_start|>").ids == [v.token_id("<|im_start|>")]
