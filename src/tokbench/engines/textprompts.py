"""Prompts of an exact token length for engines that take text or token ids over HTTP.

Counting is what costs: each count is a call to the server's tokenize endpoint, or a one-token
generation (a prefill) when the server has no such endpoint. So lengths are counted once per
length, not per request: one *base* prompt of the length is searched for (a few counts: the
number of words is corrected by the measured error), and each request gets the base behind a
*prefix* unique to its seed that always takes the same number of tokens: a fixed first word, then
single letters, each one token after a space in byte-level BPE and SentencePiece vocabularies alike
(whole words are not: a small vocabulary splits "which" but not "the"). A unique first few tokens
means no request shares a cached prefix with another (prefill is measured in full).

Exactness is checked, not assumed: with a local tokenizer (free) every prompt is counted; over
HTTP three prompts of each length are (the first, a middle and the last seed); if one is off, every
prompt of that length is counted and any that still miss are searched one by one. When the server takes
token ids, the prompt is sent as ids: the base's ids with a seed's ids put after BOS, exact by
construction. ``Prompt.n_tokens`` is always the true length as counted, never the asked one.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence

from tokbench.engines.protocol import Prompt

# Common English words: one token each (with their leading space) in the usual BPE/SPM vocabularies.
WORDS = ("the", "of", "and", "to", "in", "is", "it", "that", "on", "for", "with", "as", "was", "he",
         "be", "at", "by", "this", "had", "not", "are", "but", "from", "or", "have", "an", "they",
         "which", "one", "you", "were", "all", "we", "her", "she", "there", "would", "their", "will")
# Appended one at a time to close a gap of a token or two that whole words could not close.
FILLERS = (" a", ".", ",", " the", "1", " of")
PREFIX_HEAD = "Note"  # first word of every prefix: the same start-of-text tokenization for all seeds
LETTERS = "abcdefghijklmnopqrstuvwxyz"

Counter = Callable[[str], Awaitable[int]]
Ids = Callable[[str], Awaitable["list[int] | None"]]


def prefix_words(n_tokens: int) -> int:
    """Words of the unique prefix for a prompt of ``n_tokens`` (fewer for very short prompts)."""
    return max(0, min(4, (n_tokens - 2) // 3))


def unique_prefix(seed: int, words: int) -> str:
    """``Note q x b`` with letters picked by the digits of ``seed`` in base 26: distinct for distinct
    seeds below 26 ** (words - 1)."""
    if words <= 0:
        return ""
    parts, s = [PREFIX_HEAD], seed
    for _ in range(words - 1):
        s, d = divmod(s, len(LETTERS))
        parts.append(LETTERS[d])
    return " ".join(parts)


def _body(seed: int, n_words: int) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(WORDS) for _ in range(n_words)]


def _join(head: str, words: list[str], n_words: int) -> str:
    body = " ".join(words[:n_words])
    return f"{head} {body}" if head and body else head or body


async def exact_prompt(count: Counter, n_tokens: int, seed: int, tokens_per_word: float = 1.0,
                       max_calls: int = 24, head: str | None = None) -> Prompt:
    """A text prompt of exactly ``n_tokens`` tokens as ``count`` measures it: ``head`` (default: a
    marker unique to ``seed``) followed by words.

    Starts from ``n_tokens / tokens_per_word`` words and corrects by the measured error (a few
    count calls when the guess is good). If the exact length cannot be reached within
    ``max_calls``, the closest prompt not longer than asked is returned and ``Prompt.n_tokens``
    says its true length: never a silently wrong number.
    """
    head = f"{seed:x}:" if head is None else head
    words = _body(seed, n_tokens + 8)
    w = max(0, min(len(words), round(n_tokens / max(tokens_per_word, 0.1))))
    best: tuple[int, str] | None = None  # (count, text) of the longest prompt <= n_tokens
    tried: dict[int, int] = {}
    calls = 0
    while calls < max_calls and w not in tried:
        text = _join(head, words, w)
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
    if best is None:  # even the bare head is too long for n_tokens
        text = _join(head, words, 0)
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


async def text_prompts(count: Counter, n_tokens: int, seeds: Sequence[int], check_all: bool = False,
                       tokens_per_word: float = 1.0, on_count=None) -> list[Prompt]:
    """One prompt of exactly ``n_tokens`` tokens per seed, counting a base once (see module doc).

    ``check_all``: count every prompt (a local tokenizer: free); else the first and last seed's.
    ``on_count`` is called after each count call (progress).
    """
    calls = [0]

    async def counted(text: str) -> int:
        calls[0] += 1
        n = await count(text)
        if on_count:
            on_count()
        return n

    seeds = list(seeds)
    words = prefix_words(n_tokens)
    if not seeds:
        return []
    head0 = unique_prefix(seeds[0], words)
    base = await exact_prompt(counted, n_tokens, seeds[0], tokens_per_word, head=head0)
    body = base.text[len(head0):]
    out = [Prompt(base.n_tokens, text=unique_prefix(s, words) + body) for s in seeds]
    out[0] = base
    probe = range(1, len(out)) if check_all else sorted({len(out) // 2, len(out) - 1} - {0})
    bad = [i for i in probe if await counted(out[i].text) != base.n_tokens]
    if bad and not check_all:  # the sample is off: count every prompt of this length
        bad = [i for i in range(1, len(out)) if await counted(out[i].text) != base.n_tokens]
    for i in bad:  # a prefix that tokenizes differently: search this one alone
        out[i] = await exact_prompt(counted, n_tokens, seeds[i], tokens_per_word, head=unique_prefix(seeds[i], words))
    return out


async def id_prompts(ids: Ids, n_tokens: int, seeds: Sequence[int], tokens_per_word: float = 1.0,
                     lead: list[int] | None = None) -> list[Prompt] | None:
    """Token-id prompts of exactly ``n_tokens`` ids (None when ``ids`` cannot tokenize): the ids of
    one base text, with ids unique to each seed put right after the leading special tokens
    (``lead``: the ids of an empty prompt, i.e. BOS or nothing; counted here when not given)."""
    lead = lead if lead is not None else await ids("")
    if lead is None:
        return None
    words = _body(seeds[0] if seeds else 0, n_tokens + 8)
    n_words = max(1, round(n_tokens / max(tokens_per_word, 0.1)) + 8)
    base = await ids(_join("", words, n_words))
    while base is not None and len(base) < n_tokens and n_words < 4 * n_tokens + 64:
        n_words *= 2
        words = _body(seeds[0] if seeds else 0, n_words)
        base = await ids(_join("", words, n_words))
    if base is None or len(base) < n_tokens:
        return None
    head = len(lead) if base[:len(lead)] == lead else 0
    pool = sorted(set(base[head:]))
    k = min(prefix_words(n_tokens) + 1, n_tokens - head) if len(pool) > 1 else 0
    out = []
    for s in seeds:
        mark, x = [], s
        for _ in range(k):
            x, d = divmod(x, len(pool))
            mark.append(pool[d])
        seq = base[:head] + mark + base[head + k:n_tokens]
        out.append(Prompt(len(seq), token_ids=seq))
    return out


def approximate_prompts(n_tokens: int, seeds: Sequence[int]) -> list[Prompt]:
    """Prompts of ``n_tokens`` words (a server that cannot count tokens): ``exact`` is False and each
    request's true prompt length comes from the server's usage when it reports one."""
    words = prefix_words(n_tokens)
    body = _body(0, max(0, n_tokens - words - 1))
    return [Prompt(n_tokens, text=_join(unique_prefix(s, words), body, len(body)), exact=False) for s in seeds]
