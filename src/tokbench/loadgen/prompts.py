"""Prompts of an exact token length for text engines: see :mod:`tokbench.engines.textprompts`
(the engines build their own prompts; this name stays for the agent workload and older callers)."""

from __future__ import annotations

from tokbench.engines.textprompts import FILLERS, WORDS, exact_prompt, text_prompts

__all__ = ["FILLERS", "WORDS", "exact_prompt", "text_prompts"]
