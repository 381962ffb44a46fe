"""Prompts of an exact token length, for engines that take text (HTTP servers).

The engine counts tokens (its tokenize endpoint or a local tokenizer); this module searches the
number of words that gives exactly ``n_tokens``. Every prompt starts with a marker unique to its
seed so no two requests share a prefix a server could cache (prefill is measured in full).
In-process engines build token-id prompts themselves and never come here.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

from tokbench.engines.protocol import Prompt

# Common English words: one token each (with their leading space) in the usual BPE/SPM vocabularies.
WORDS = ("the", "of", "and", "to", "in", "is", "it", "that", "on", "for", "with", "as", "was", "he",
         "be", "at", "by", "this", "had", "not", "are", "but", "from", "or", "have", "an", "they",
         "which", "one", "you", "were", "all", "we", "her", "she", "there", "would", "their", "will")
# Appended one at a time to close a gap of a token or two that whole words could not close.
FILLERS = (" a", ".", ",", " the", "1", " of")

Counter = Callable[[str], Awaitable[int]]


def _text(seed: int, words: list[str], n_words: int) -> str:
    return f"{seed:x}: " + " ".join(words[:n_words])


async def exact_prompt(count: Counter, n_tokens: int, seed: int, tokens_per_word: float = 1.0,
                       max_calls: int = 24) -> Prompt:
    """A text prompt of exactly ``n_tokens`` tokens as ``count`` measures it.

    Starts from ``n_tokens / tokens_per_word`` words and corrects by the measured error (a few
    count calls when the guess is good). If the exact length cannot be reached within
    ``max_calls``, the closest prompt not longer than asked is returned and ``Prompt.n_tokens``
    says its true length: never a silently wrong number.
    """
    rng = random.Random(seed)
    words = [rng.choice(WORDS) for _ in range(n_tokens + 8)]
    w = max(0, min(len(words), round(n_tokens / max(tokens_per_word, 0.1))))
    best: tuple[int, str] | None = None  # (count, text) of the longest prompt <= n_tokens
    tried: dict[int, int] = {}
    calls = 0
    while calls < max_calls and w not in tried:
        text = _text(seed, words, w)
        c = await count(text)
        calls += 1
        tried[w] = c
        if c == n_tokens:
            return Prompt(n_tokens=c, text=text)
        if c < n_tokens and (best is None or c > best[0]):
            best = (c, text)
        ratio = c / w if w else tokens_per_word
        step = round((n_tokens - c) / max(ratio, 0.1)) or (1 if c < n_tokens else -1)
        w = max(0, min(len(words), w + step))
    if best is None:  # even the bare marker is too long for n_tokens
        text = _text(seed, words, 0)
        return Prompt(n_tokens=await count(text), text=text)
    return await _pad(count, best, n_tokens, max_calls - calls)


async def _pad(count: Counter, best: tuple[int, str], n_tokens: int, calls_left: int) -> Prompt:
    c, text = best
    for filler in FILLERS * 4:
        if c == n_tokens or calls_left <= 0:
            break
        c2 = await count(text + filler)
        calls_left -= 1
        if c2 <= n_tokens:
            c, text = c2, text + filler
    return Prompt(n_tokens=c, text=text)
