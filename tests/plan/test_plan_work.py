"""Work profile of a decode step: which weights one token streams."""

from tokbench.modelspec import load_spec
from tokbench.plan.memory import _typed_bytes
from tokbench.plan.work import work_profile


def _streamed(spec, quant: str) -> int:
    return sum(w.dense_bytes + w.expert_bytes for w in work_profile(spec, quant).types.values())


def test_tied_embeddings_stream_the_token_embedding_as_the_output_head():
    # Llama 3.2 3B ties its output head to token_embd (no output.weight): llama.cpp multiplies that matrix every
    # token, so the step streams it; an untied model streams its output.weight and only gathers token_embd rows.
    tied, untied = load_spec("llama-3.2-3b"), load_spec("llama-3.1-8b")
    assert tied.tie_embeddings and not untied.tie_embeddings
    for spec in (tied, untied):
        sizes = _typed_bytes(spec, "Q4_K_M")
        embd = next(b for name, (_, b) in sizes.items() if name.startswith("token_embd"))
        everything = sum(b for _, b in sizes.values())
        streamed = _streamed(spec, "Q4_K_M")
        assert streamed == (everything if spec.tie_embeddings else everything - embd)
    # A pipeline stage without the head streams its layers' tensors and no embedding matrix.
    sizes = _typed_bytes(tied, "Q4_K_M")
    stage = work_profile(tied, "Q4_K_M", sizes, layers=range(0, 4), head=False)
    layer_bytes = sum(sizes[t.name][1] for t in tied.tensors() if t.layer is not None and t.layer < 4)
    assert sum(w.dense_bytes + w.expert_bytes for w in stage.types.values()) == layer_bytes
