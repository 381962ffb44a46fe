"""tokbench.quant.formats: the GGML block table and tensor sizes."""

from __future__ import annotations

import pytest

from tokbench.errors import UserError
from tokbench.quant.formats import ggml_type, ggml_types, tensor_nbytes


def test_table_matches_gguf_constants():
    """Every type gguf-py knows has the same block size and bytes in our table (with its source)."""
    gguf = pytest.importorskip("gguf")
    for t, (block, size) in gguf.constants.GGML_QUANT_SIZES.items():
        ours = ggml_types()[t.name]
        assert (ours.block, ours.type_size) == (block, size), t.name
        assert ours.source


def test_tensor_nbytes_whole_blocks():
    """Rows are whole blocks: bytes = rows * row_length / block * bytes_per_block."""
    assert tensor_nbytes("Q4_K", (4096, 14336)) == 14336 * 16 * 144
    assert tensor_nbytes("q8_0", [320, 7]) == 7 * 10 * 34
    assert tensor_nbytes("F32", (5,)) == 20
    assert tensor_nbytes("MXFP4", (2880, 2880, 32)) == 2880 * 32 * 90 * 17


def test_tensor_nbytes_rejects_partial_blocks():
    """A row that is not a whole number of blocks can't be stored in that type."""
    with pytest.raises(ValueError, match="block size 256"):
        tensor_nbytes("Q6_K", (320, 4))


def test_bits_per_weight_and_unknown_type():
    """bits per weight follow from the block; unknown names give close matches."""
    assert ggml_type("Q4_K").bits_per_weight == 4.5
    assert ggml_type("IQ4_XS").bits_per_weight == 4.25
    assert not ggml_type("BF16").is_quantized and ggml_type("Q2_0").is_quantized
    with pytest.raises(UserError, match="Q4_K"):
        ggml_type("Q4_KK")
