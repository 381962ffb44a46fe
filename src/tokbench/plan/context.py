"""Context lengths as users write them: ``128k``, ``8K``, ``32768``, ``1m``."""

from __future__ import annotations

from tokbench.errors import UserError

# "128k" means 128 x 1024 tokens (131072), as model cards and llama.cpp's -c 128k-style usage mean it.
_SUFFIX = {"k": 1024, "m": 1024 * 1024}


def parse_context(text: str | int) -> int:
    """Tokens in ``text`` (``128k`` -> 131072); UserError for anything that is not a positive size."""
    if isinstance(text, int):
        value = text
    else:
        s = text.strip().lower()
        mult = _SUFFIX.get(s[-1:], 1)
        num = s[:-1] if mult != 1 else s
        try:
            value = int(float(num) * mult) if "." in num else int(num) * mult
        except ValueError:
            raise UserError(f"bad context '{text}'; use tokens like 32768, 8k or 128K") from None
    if value <= 0:
        raise UserError(f"context must be positive, got '{text}'")
    return value


def format_context(tokens: int) -> str:
    """``131072`` -> ``128K``; other values as plain numbers."""
    if tokens % 1024 == 0 and tokens >= 1024:
        return f"{tokens // 1024}K"
    return str(tokens)
