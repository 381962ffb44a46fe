"""Shared fixtures: a GGUF llama.cpp itself quantized, with a real-size (248k-token) vocabulary."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def llama_gguf(tmp_path_factory):
    """(path, its split set of 2 files) -- llama_model_quantize output of a 4-layer Qwen3.5-35B-A3B shape."""
    pytest.importorskip("llama_cpp")
    from tb_hub_files import llama_quantized, split_gguf

    root = tmp_path_factory.mktemp("llama-gguf")
    path = llama_quantized(root)
    return path, split_gguf(path, root / "Q4_K_M", "Model-Q4_K_M", 40)
