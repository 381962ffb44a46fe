"""Weight bytes, expert fraction, overhead and usable memory."""

import pytest

from tokbench.catalog.hardware import get_hardware
from tokbench.errors import UserError
from tokbench.plan.memory import (
    GiB,
    expert_fraction,
    overhead_bytes,
    parse_engine,
    usable_memory,
    weight_bytes,
)
from tokbench.quant.llamacpp import weights_bytes
from tokbench.modelspec import load_spec


@pytest.mark.parametrize("model", ["llama-3.1-8b", "qwen3-30b-a3b", "qwen3.5-397b-a17b"])
def test_weights_are_the_quantizers_tensor_bytes(model):
    spec = load_spec(model)
    wb = weight_bytes(spec, "Q4_K_M")
    assert wb.total == weights_bytes(spec, "Q4_K_M")
    assert wb.total == wb.embedding + wb.experts + wb.dense


def test_qwen35_q4_k_m_size_is_close_to_published_file():
    # unsloth's Qwen3.5-397B-A17B Q4_K_M is ~241 GB (the seed's figure); llama.cpp's own mixture.
    assert weight_bytes(load_spec("qwen3.5-397b-a17b"), "Q4_K_M").total / 1e9 == pytest.approx(241, rel=0.02)


def test_expert_fraction_grows_with_concurrency():
    spec = load_spec("qwen3-30b-a3b")  # 8 of 128 experts
    assert expert_fraction(spec, 1) == pytest.approx(8 / 128)
    assert expert_fraction(spec, 8) == pytest.approx(1 - (1 - 8 / 128) ** 8)
    assert expert_fraction(load_spec("llama-3.1-8b"), 8) == 1.0


def test_active_bytes_exclude_embedding_and_unrouted_experts():
    spec = load_spec("qwen3-30b-a3b")
    wb = weight_bytes(spec, "Q8_0")
    assert wb.active(1, spec) == pytest.approx(wb.dense + wb.experts * 8 / 128)
    assert wb.active(1, spec) < 0.15 * wb.total


def test_apple_usable_memory_rule_and_overrides():
    u = usable_memory(get_hardware("m3-ultra-80c:256"))
    assert u.usable_bytes == 192 * GiB and "iogpu.wired_limit_mb" in u.basis
    small = usable_memory(get_hardware("m4-pro:24"))
    assert small.usable_bytes == pytest.approx(16 * GiB, rel=1e-6)  # 2/3 below 36 GB
    raised = usable_memory(get_hardware("m3-ultra-80c:256"), gpu_limit_gb=250)
    assert raised.usable_bytes == 248 * GiB  # capped by the 8 GiB OS reserve
    assert usable_memory(get_hardware("m3-ultra-80c:256"), gpu_limit_gb=250, os_reserve_gb=0).usable_bytes == 250 * GiB


def test_discrete_gpu_and_server_engines():
    h100 = get_hardware("h100-sxm")
    assert usable_memory(h100).usable_bytes == pytest.approx(79.5 * GiB)
    assert usable_memory(h100, "vllm").usable_bytes == pytest.approx(72 * GiB)


def test_overhead_is_positive_and_grows_for_servers():
    spec = load_spec("llama-3.1-8b")
    assert 0.5 * GiB < overhead_bytes(spec) < overhead_bytes(spec, "vllm")


def test_engine_names():
    assert parse_engine("llamacpp") == "llama.cpp" and parse_engine("MLX") == "mlx"
    with pytest.raises(UserError, match="vllm"):
        parse_engine("vlm")


def test_kernel_classes_split_value_tables_from_codebook_grids():
    # A 4-bit code into a 16-value table unpacks in registers like Q4_0; IQ1-IQ3 codes gather from grids of
    # packed vectors with sign masks: the two cost a GPU kernel very differently (issue 15: the H200 ran
    # IQ4_XS faster than Q4_K_M where the grid class priced it 40% slower).
    from tokbench.plan.memory import kernel_class

    assert {kernel_class(t) for t in ("IQ4_NL", "IQ4_XS", "MXFP4", "NVFP4")} == {"table"}
    assert {kernel_class(t) for t in ("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S")} == {"grid"}
    assert [kernel_class(t) for t in ("Q4_0", "Q8_0", "Q4_K", "Q6_K", "BF16")] == ["block", "block", "kquant",
                                                                                    "kquant", "float"]
