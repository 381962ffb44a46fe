"""Model catalog: config.json facts (Hugging Face field names) for well-known models, with sources.

Each entry of data/models.json is {"source": str, "published_params": {"total": float,
"active": float (MoE only), "source": str}, "config": {config.json fields}}.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def catalog() -> dict[str, dict]:
    """Catalog id -> {"source": str, "published_params": dict, "config": dict in config.json field names}."""
    text = resources.files("tokbench.catalog").joinpath("data/models.json").read_text()
    return json.loads(text)


def model_ids() -> list[str]:
    """All catalog model ids."""
    return sorted(catalog())


def published_params(model_id: str) -> dict:
    """Published parameter counts of a catalog model: {"total", "active" (MoE only), "source"}.

    KeyError for an id not in the catalog (callers resolve ids through tokbench.modelspec.load_spec first).
    """
    return dict(catalog()[model_id]["published_params"])
