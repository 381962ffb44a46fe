"""llama.cpp accepts our tensor layouts: tiny GGUFs of every architecture load, count and evaluate."""

from __future__ import annotations

import pytest

from gguf_spec_writer import write_spec_gguf
from tiny_specs import tiny_specs

llama_cpp = pytest.importorskip("llama_cpp")

pytestmark = pytest.mark.engine


@pytest.mark.parametrize("arch", sorted(tiny_specs()))
def test_llama_cpp_loads_and_counts(arch, tmp_path):
    spec = tiny_specs()[arch]
    path = write_spec_gguf(spec, tmp_path / f"{arch}.gguf")
    llm = llama_cpp.Llama(str(path), n_ctx=128, n_threads=1, verbose=False)
    try:
        # llama.cpp's own parameter count equals ours, tensor for tensor.
        assert llama_cpp.llama_model_n_params(llm.model) == spec.n_params()
        tokens = llm.tokenize(b"hello world")
        llm.eval(tokens)  # builds and runs the arch's graph: shapes must agree beyond loading
        llm.eval([5])
        assert llm.n_tokens == len(tokens) + 1
    finally:
        llm.close()
