"""Weights a checkpoint ships that the text model does not load: counted apart, never in the plan.

Multimodal checkpoints keep their vision / audio towers next to the language model (Qwen3.5's
``model.visual``, Gemma's ``vision_tower`` / ``audio_tower``, Llama 4's ``vision_model`` and
``multi_modal_projector``); several keep multi-token-prediction blocks (``mtp.*``, or layers numbered
after the last one). llama.cpp loads the towers from a separate mmproj file and skips MTP blocks
unless asked, so the planner's weights are the text model's, and these are reported beside them.
"""

from __future__ import annotations

import re

_TOWERS = (
    ("vision", ("visual.", "vision_tower", "vision_model", "vision_encoder", "multi_modal_projector", "mm_projector",
                "embed_vision", "image_newline", "vision_embed")),
    ("audio", ("audio_tower", "audio_model", "embed_audio", "audio_encoder")),
)
_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def part_of(name: str, n_layers: int) -> str:
    """'text', 'vision', 'audio' or 'mtp' for a checkpoint tensor name (HF / MLX naming)."""
    for part, needles in _TOWERS:
        if any(n in name for n in needles):
            return part
    if name.startswith(("mtp.", "model.mtp.", "language_model.mtp.")) or ".mtp." in name:
        return "mtp"
    m = _LAYER.search(name)
    if m and int(m.group(1)) >= n_layers:
        return "mtp"
    return "text"


def split_bytes(tensors: list[tuple[str, int]], n_layers: int) -> tuple[int, tuple[tuple[str, int], ...]]:
    """(text-model bytes, ((part, bytes), ...) counted apart) from (name, bytes) pairs."""
    totals: dict[str, int] = {}
    for name, nbytes in tensors:
        part = part_of(name, n_layers)
        totals[part] = totals.get(part, 0) + nbytes
    text = totals.pop("text", 0)
    return text, tuple(sorted(totals.items()))
