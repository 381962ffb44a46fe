"""How reports name things: token counts as the seed writes them ("4K", "~4K"), a run's identity in
short words (model, quant, engine and version, hardware, topology), and what is not known said in
words once (a table note), never as a "?" or "None" cell.

Renderers and table builders use these so that the terminal, Markdown and HTML read alike.
"""

from __future__ import annotations

import re
from typing import Any

# A cell whose value is not known; the table's note says once what is missing and why.
UNKNOWN = "not recorded"

# tokbench's cached default model and synth outputs end in a content hash ("-13bc08c62bee.gguf"):
# 40 characters of hash in a legend say nothing to a reader, so short names drop it.
_HASH_TAIL = re.compile(r"-[0-9a-f]{8,}$")
_FILE_TAIL = re.compile(r"\.(gguf|safetensors|bin)$", re.IGNORECASE)


def tokens_text(n: int | float | None) -> str:
    """A token count as the seed writes contexts: 512, 4K (exact 4096), ~4K (4160: depth + generated)."""
    if n is None:
        return UNKNOWN
    n = int(n)
    if n < 1000:
        return str(n)
    k = n / 1024
    if n % 1024 == 0:
        return f"{n // 1024}K"
    if k >= 10:
        return f"~{round(k)}K"
    return f"~{round(k * 2) / 2:g}K"  # half-K steps below 10K: 1536 -> ~1.5K


def short_model(model: Any) -> str:
    """A model as a legend shows it: a file's name without its directory, suffix, quant tag or
    content hash; Hugging Face ids keep their organisation."""
    if not model:
        return UNKNOWN
    text = str(model)
    if text.startswith("/") or text.startswith("."):
        text = text.rstrip("/").rsplit("/", 1)[-1]
    text = _FILE_TAIL.sub("", text)
    text = _HASH_TAIL.sub("", text)
    return text or str(model)


def strip_quant(model: str, quant: str | None) -> str:
    """``model`` without a trailing ``-QUANT`` tag (the quant has its own column)."""
    if quant and model.lower().endswith("-" + quant.lower()):
        return model[: -len(quant) - 1]
    return model


def engine_text(ident: dict) -> str:
    """Engine and version as a reader names them: ``llama.cpp 0.3.16``, ``vllm (server 0.11)``."""
    engine = ident.get("bench_engine") or ident.get("engine")
    if not engine:
        return UNKNOWN
    version = str(ident.get("engine_version") or "").strip()
    return f"{engine} {version}".strip()


def topology_text(topo: dict | None) -> str:
    """A stored run topology (tokbench.identity.Topology as a dict) in words."""
    if not isinstance(topo, dict):
        return "one machine"
    nodes, gpus, split, link = topo.get("nodes") or 1, topo.get("gpus"), topo.get("split"), topo.get("link")
    parts = ["one machine" if nodes == 1 else f"{nodes} machines"]
    if gpus == 0:
        parts.append("CPU only")
    elif gpus == 1:
        parts.append("1 GPU")
    elif gpus:
        parts.append(f"{gpus} GPUs")
    else:
        parts.append("devices behind the endpoint not known")
    if split:
        parts.append(f"{split} split")
    if link:
        parts.append(f"over {link}")
    return ", ".join(parts)


class Unknowns:
    """What a table does not know, collected while it is built and said once in its note."""

    def __init__(self) -> None:
        self.items: dict[str, list[str]] = {}

    def add(self, what: str, who: str) -> str:
        """Record that ``what`` (e.g. "hardware") is not known for ``who`` (a run id); returns the cell text."""
        names = self.items.setdefault(what, [])
        if who not in names:
            names.append(who)
        return UNKNOWN

    def note(self) -> str:
        """One sentence per group of sources missing the same fields, or "" when everything is known:
        "hardware and quant not recorded for run X (hints)."."""
        missing: dict[str, list[str]] = {}
        for what, who in self.items.items():
            for w in who:
                missing.setdefault(w, []).append(what)
        groups: dict[tuple[str, ...], list[str]] = {}
        for w, whats in missing.items():
            groups.setdefault(tuple(whats), []).append(w)
        out = []
        for whats, who in groups.items():
            runs = any(w.startswith("run ") for w in who)  # the hints say how to record it in a run
            hints = "; ".join(HINTS[w] for w in whats if HINTS.get(w)) if runs else "not stated by the source"
            out.append(f"{' and '.join(whats)} {UNKNOWN} for {', '.join(who)}" + (f" ({hints})" if hints else "") + ".")
        return " ".join(out)


HINTS = {
    "hardware": "bench with --hardware ID, or on a catalogued machine; see `tokbench hw list`",
    "quant": "the model file names no quant type tokbench knows",
}
