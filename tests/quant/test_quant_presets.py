"""tokbench.quant.presets: preset names, LLAMA_FTYPE ids, MLX modes."""

from __future__ import annotations

import pytest

from tokbench.errors import UserError
from tokbench.quant.presets import NATIVE, PRESETS, ftype_name, get_preset, llamacpp_presets, mlx_presets, parse_quant

ISSUE_PRESETS = ("F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q4_K_M Q4_K_S Q4_0 Q3_K_L Q3_K_M Q3_K_S Q2_K IQ4_XS IQ4_NL "
                 "IQ3_S IQ3_XXS IQ2_M IQ2_S IQ2_XS IQ2_XXS IQ1_M IQ1_S MXFP4_MOE TQ1_0").split()
ISSUE_MLX = ["mlx-8bit", "mlx-6bit", "mlx-5bit", "mlx-4bit", "mlx-3bit", "mlx-mxfp4", "mlx-nvfp4"]


def test_issue_names_parse_case_insensitively():
    """Every name issue 2 lists parses, in any case, to itself."""
    for name in ISSUE_PRESETS + ISSUE_MLX:
        assert parse_quant(name.lower()) == name
        assert parse_quant(name.upper()) == name
    for bits in (8, 6, 5, 4, 3):
        for g in (32, 128):
            assert parse_quant(f"MLX-{bits}bit-G{g}") == f"mlx-{bits}bit-g{g}"
        assert parse_quant(f"mlx-{bits}bit-g64") == f"mlx-{bits}bit"


def test_aliases_and_native():
    """llama-quantize's aliases (Q4_K = Q4_K_M ...) and 'native' (the file's own types)."""
    assert parse_quant("q4_k") == "Q4_K_M"
    assert parse_quant("Q3_K") == "Q3_K_M"
    assert parse_quant("fp16") == "F16"
    assert parse_quant("Native") == NATIVE


def test_unknown_name_suggests_close_matches():
    """A typo names the presets it resembles."""
    with pytest.raises(UserError, match="Q4_K_M"):
        parse_quant("Q4KM")
    with pytest.raises(UserError, match="mlx-4bit"):
        parse_quant("mlx-4bits")


def test_ftype_ids_match_llama_cpp():
    """LLAMA_FTYPE ids equal the ones llama-cpp-python exposes from llama.h."""
    llama_cpp = pytest.importorskip("llama_cpp")
    for name in llamacpp_presets():
        const = "LLAMA_FTYPE_ALL_F32" if name == "F32" else f"LLAMA_FTYPE_MOSTLY_{name}"
        if hasattr(llama_cpp, const):
            assert getattr(llama_cpp, const) == PRESETS[name].ftype, name
    assert ftype_name(15) == "Q4_K_M" and ftype_name(999) is None


def test_imatrix_flags_and_mlx_fields():
    """IQ1/IQ2/IQ3_XXS and Q2_K_S need an importance matrix; MLX modes carry bits and group."""
    assert {n for n in llamacpp_presets() if PRESETS[n].needs_imatrix} == {
        "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "Q2_K_S"}
    p = get_preset("mlx-4bit")
    assert (p.mlx_mode, p.bits, p.group_size) == ("affine", 4, 64)
    assert (get_preset("mlx-nvfp4").group_size, get_preset("mlx-mxfp4").group_size) == (16, 32)
    assert "mlx-bf16" in mlx_presets() and "mlx-4bit" not in llamacpp_presets()
