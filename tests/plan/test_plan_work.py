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


def test_a_prompt_token_does_not_multiply_the_output_head_but_a_batched_step_does():
    # llama.cpp computes logits for a prompt's last token only, so a prompt token's FLOPs leave the head out
    # (tied: token_embd; untied: output.weight); every sequence of a batched decode step takes its logits.
    from tokbench.plan.speed import prefill_flops, token_matmul_elems

    for model in ("llama-3.2-3b", "llama-3.1-8b", "qwen3-30b-a3b"):
        spec = load_spec(model)
        work = work_profile(spec, "Q4_K_M")
        head = spec.vocab * spec.hidden
        assert sum(w.head_elems for w in work.types.values()) == head
        matrices = sum(w.dense_elems for w in work.types.values())
        f = prefill_flops(spec, work, 0)
        assert f["float"] + f["quant"] == 2 * (matrices - head)
        used = spec.n_experts_used / spec.n_experts if spec.n_experts else 0.0
        assert token_matmul_elems(spec, work) == matrices + used * sum(w.expert_elems for w in work.types.values())
    # A pipeline stage without the head has none to leave out.
    assert all(w.head_elems == 0 for w in work_profile(load_spec("llama-3.2-3b"), "Q4_K_M", layers=range(4),
                                                       head=False).types.values())


def test_an_experts_prompt_product_costs_at_least_the_column_floor():
    # 512 prompt tokens x 4 of 128 experts leave 16 tokens per expert in gpt-oss-120b: its products cost
    # MOE_MIN_COLUMNS (32) columns' work, twice their FLOPs; gpt-oss-20b's 64 per expert (4 of 32) pay none.
    from tokbench.plan.speed import MOE_MIN_COLUMNS, prefill_flops

    for model, pad in (("gpt-oss-120b", MOE_MIN_COLUMNS / 16), ("gpt-oss-20b", 1.0)):
        spec = load_spec(model)
        work = work_profile(spec, "MXFP4_MOE")
        experts = sum(w.expert_elems for w in work.types.values()) * spec.n_experts_used / spec.n_experts
        assert prefill_flops(spec, work, 0)["moe"] == 2 * experts * pad
