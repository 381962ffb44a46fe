"""Model catalog data: every entry has a source, published parameter counts and a loadable config."""

from __future__ import annotations

import pytest

from tokbench.catalog.models import catalog, model_ids, published_params
from tokbench.modelspec import load_spec

REQUIRED = ["llama-3.1-8b", "llama-3.3-70b", "qwen2.5-7b", "qwen2.5-14b", "qwen2.5-32b", "qwen3-30b-a3b",
            "qwen3-next-80b-a3b", "qwen3.5-397b-a17b", "gpt-oss-20b", "gpt-oss-120b", "deepseek-v3", "gemma-3-27b"]


def test_required_ids_present():
    assert set(REQUIRED) <= set(model_ids())


@pytest.mark.parametrize("model", sorted(catalog()))
def test_entry_shape(model):
    entry = catalog()[model]
    assert entry["source"]
    pub = published_params(model)
    assert pub["total"] > 1e9 and pub["source"]
    assert ("active" in pub) == load_spec(model).is_moe
    assert load_spec(model).context_length > 0
