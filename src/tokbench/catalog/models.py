"""Model catalog: config.json facts (Hugging Face field names) for well-known models, with sources."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def catalog() -> dict[str, dict]:
    """Catalog id -> {"source": str, "config": dict in config.json field names}."""
    text = resources.files("tokbench.catalog").joinpath("data/models.json").read_text()
    return json.loads(text)


def model_ids() -> list[str]:
    """All catalog model ids."""
    return sorted(catalog())
