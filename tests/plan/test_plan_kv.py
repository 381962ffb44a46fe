"""KV cache and recurrent state against values derived by hand from the models' config.json."""

import pytest

from tokbench.errors import UserError
from tokbench.plan.kv import kv_bytes_per_token, kv_cache, kv_read_bytes, parse_kv_type, state_bytes_per_sequence
from tokbench.modelspec import load_spec

MiB = 2**20


def test_qwen35_kv_per_token_and_state():
    spec = load_spec("qwen3.5-397b-a17b")
    # 15 full layers x 2 KV heads x 256 head_dim x 2 (K, V) x 2 bytes (f16)
    assert kv_bytes_per_token(spec) == 15 * 2 * 256 * 2 * 2 == 30_720
    # 45 Gated DeltaNet layers x (3 x (2*16*128 + 64*128) conv + 64*128*128 state) x 4 bytes
    assert state_bytes_per_sequence(spec) == 45 * (3 * (2 * 16 * 128 + 64 * 128) + 64 * 128 * 128) * 4
    assert state_bytes_per_sequence(spec) / MiB == pytest.approx(186.3, abs=0.05)


def test_qwen35_cache_at_128k_and_concurrency():
    spec = load_spec("qwen3.5-397b-a17b")
    one = kv_cache(spec, 131072)
    assert one.kv_bytes == 30_720 * 131072
    four = kv_cache(spec, 131072, concurrency=4)
    assert four.kv_bytes == 4 * one.kv_bytes and four.state_bytes == 4 * one.state_bytes


def test_mla_caches_latent_plus_rope_only():
    spec = load_spec("deepseek-v3")
    assert kv_bytes_per_token(spec) == 61 * (512 + 64) * 2


def test_sliding_window_caps_cells_and_reads():
    spec = load_spec("gpt-oss-120b")
    cache = kv_cache(spec, 131072)
    assert cache.cells == {"sliding": 768, "full": 131072}
    per_layer = 8 * 64 * 2 * 2
    assert cache.kv_bytes == 18 * per_layer * 131072 + 18 * per_layer * 768
    # Decode at 10K reads 10K cells of the full layers but only the window of the sliding ones.
    assert kv_read_bytes(spec, 10_000) == 18 * per_layer * 10_000 + 18 * per_layer * 128


@pytest.mark.parametrize("kv_type,ratio", [("q8_0", 34 / 64), ("q4_0", 18 / 64)])
def test_quantized_kv_uses_block_sizes(kv_type, ratio):
    spec = load_spec("llama-3.1-8b")
    assert kv_bytes_per_token(spec, kv_type) == pytest.approx(kv_bytes_per_token(spec) * ratio)


def test_context_padding():
    spec = load_spec("llama-3.1-8b")
    assert kv_cache(spec, 1000).cells == {"full": 1024}


def test_unknown_kv_type_names_close_match():
    with pytest.raises(UserError, match="q8_0"):
        parse_kv_type("q8")
