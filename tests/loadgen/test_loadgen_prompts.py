"""Exact-length text prompts: the search must hit the asked length or say the true one."""

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from tokbench.loadgen.prompts import exact_prompt


def _counter(bos: int = 1, long_words=("which", "would", "there")):
    # A tokenizer where a few words take two tokens and punctuation one: whole words can overshoot.
    async def count(text: str) -> int:
        n = bos
        for w in text.split():
            n += 2 if w in long_words else 1
        return n
    return count


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=4, max_value=3000), seed=st.integers(min_value=0, max_value=10**6))
def test_exact_length_is_hit(n, seed):
    p = asyncio.run(exact_prompt(_counter(), n, seed))
    assert p.n_tokens == n
    assert asyncio.run(_counter()(p.text)) == n


def test_prompts_differ_by_seed_from_the_first_token():
    a = asyncio.run(exact_prompt(_counter(), 100, 1))
    b = asyncio.run(exact_prompt(_counter(), 100, 2))
    assert a.text.split()[0] != b.text.split()[0]  # unique prefix: no shared cache hit


def test_too_short_target_reports_true_length():
    p = asyncio.run(exact_prompt(_counter(bos=5), 2, 7))
    assert p.n_tokens == 6  # BOS(5) + marker: the true length, never the asked one
