"""Block payloads: sizes agree with gguf-py and the planner's table; every scale is finite and non-zero."""

import numpy as np
import pytest
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

from tokbench.quant.formats import ggml_type
from tokbench.synth.blocks import LAYOUTS, BlockSource, make_blocks


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout_sizes_match_gguf_py_and_planner(name):
    lay = LAYOUTS[name]
    assert GGML_QUANT_SIZES[GGMLQuantizationType[name]] == (lay.block, lay.size)
    t = ggml_type(name)
    assert (t.block, t.type_size) == (lay.block, lay.size)


def _f16(blocks, off):
    return blocks[:, off : off + 2].copy().view("<f2").astype(np.float32).ravel()


@pytest.mark.parametrize("name", [n for n, lay in LAYOUTS.items() if lay.d_offsets])
def test_scales_finite_nonzero(name):
    blocks = make_blocks(name, 4096, np.random.default_rng(1))
    lay = LAYOUTS[name]
    for off in lay.d_offsets + lay.m_offsets:
        v = _f16(blocks, off)
        assert np.isfinite(v).all() and (v != 0).all(), (name, off)
    d = _f16(blocks, lay.d_offsets[0])
    assert (d > 0).all() and d.max() < 1.0


def test_iq1m_scale_reassembles_to_finite_f16():
    blocks = make_blocks("IQ1_M", 2048, np.random.default_rng(2))
    sc = blocks[:, 48:56].copy().view("<u2")
    # dequantize_row_iq1_m in ggml-quants.c
    u16 = (sc[:, 0] >> 12) | ((sc[:, 1] >> 8) & 0x00F0) | ((sc[:, 2] >> 4) & 0x0F00) | (sc[:, 3] & 0xF000)
    d = u16.astype(np.uint16).view("<f2").astype(np.float32)
    assert np.isfinite(d).all() and (d > 0).all()


def test_mxfp4_and_nvfp4_scales_sane():
    mx = make_blocks("MXFP4", 1000, np.random.default_rng(3))
    assert ((mx[:, 0] > 100) & (mx[:, 0] < 140)).all()  # 2^(e-127) near 1e-2, never 0xFF (NaN)
    nv = make_blocks("NVFP4", 1000, np.random.default_rng(3))
    assert ((nv[:, :4] != 0) & (nv[:, :4] != 0x7F) & (nv[:, :4] != 0xFF)).all()


@pytest.mark.parametrize("name", ["F32", "F16", "BF16"])
def test_float_types_finite_and_norms_near_one(name):
    blocks = make_blocks(name, 1000, np.random.default_rng(4), norm=True)
    raw = blocks.ravel()
    if name == "F32":
        v = raw.view("<f4")
    elif name == "F16":
        v = raw.view("<f2").astype(np.float32)
    else:
        v = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
    assert np.isfinite(v).all() and abs(float(v.mean()) - 1.0) < 0.01


def test_chunks_deterministic_whole_and_name_dependent():
    a = b"".join(BlockSource(7, pool_bytes=1 << 16).chunks("blk.0.attn_q.weight", "Q4_K", 144 * 1000))
    b = b"".join(BlockSource(7, pool_bytes=1 << 16).chunks("blk.0.attn_q.weight", "Q4_K", 144 * 1000))
    c = b"".join(BlockSource(8, pool_bytes=1 << 16).chunks("blk.0.attn_q.weight", "Q4_K", 144 * 1000))
    d = b"".join(BlockSource(7, pool_bytes=1 << 16).chunks("blk.1.attn_q.weight", "Q4_K", 144 * 1000))
    assert len(a) == 144 * 1000 and a == b and a != c and a != d
    with pytest.raises(ValueError):
        list(BlockSource(7).chunks("x", "Q4_K", 100))
