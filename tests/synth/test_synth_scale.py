"""Scaled-down specs keep the layer-kind pattern, GQA ratio, head_dim and block divisibility."""

import pytest

from tokbench.errors import UserError
from tokbench.modelspec import load_spec
from tokbench.synth.scale import scale_dim, scale_layers, scale_width, scaled


def test_hybrid_keeps_every_fourth_full_attention():
    spec = load_spec("qwen3-next-80b-a3b")
    small = scale_layers(spec, 8)
    assert small.kinds == spec.kinds[:8]
    assert [i for i, k in enumerate(small.kinds) if k == "full"] == [3, 7]


def test_deepseek_keeps_a_moe_layer():
    spec = load_spec("deepseek-v3")
    small = scale_layers(spec, 2)
    assert small.n_dense_layers == 1 and small.is_moe_layer(1)


@pytest.mark.parametrize("model", ["llama-3.1-8b", "qwen2.5-7b", "qwen3-30b-a3b", "gpt-oss-20b", "gemma-3-27b"])
def test_width_keeps_head_dim_gqa_and_divisibility(model):
    spec = load_spec(model)
    small = scale_width(spec, 0.25)
    assert small.head_dim == spec.head_dim
    assert small.n_heads % small.n_kv_heads == 0
    assert small.n_heads // small.n_kv_heads == spec.n_heads // spec.n_kv_heads
    assert small.hidden < spec.hidden
    for real, new in [(spec.hidden, small.hidden), (spec.intermediate, small.intermediate), (spec.expert_ffn, small.expert_ffn)]:
        if real % 256 == 0:
            assert new % 256 == 0
    if spec.hidden == spec.n_heads * spec.head_dim:
        assert small.hidden == small.n_heads * small.head_dim
    small.tensors()  # the layout still builds


def test_scale_dim_and_errors():
    assert scale_dim(4096, 0.1) == 512 and scale_dim(896, 0.5) == 512 and scale_dim(0, 0.5) == 0
    assert scale_dim(2880, 0.125) % 64 == 0
    spec = load_spec("llama-3.1-8b")
    with pytest.raises(UserError):
        scale_layers(spec, 0)
    with pytest.raises(UserError):
        scale_width(spec, 1.5)
    assert scaled(spec, 2, 0.5, 1000).name == "llama-3.1-8b-L2-W0.5"
