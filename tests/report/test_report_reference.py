"""Published reference rows: the seed's figures and the calibration CSV, typed and sourced."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tokbench.report.reference import (CALIBRATION_FILE, SEED_FILE, PublishedRow, load_published_rows, map_model,
                                       model_spec, quant_bits)

SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "000_7528d776d4757e9f.txt"


def _seed():
    return [r for r in load_published_rows() if r.source_file == SEED_FILE]


def test_rows_are_typed_and_labelled():
    rows = load_published_rows()
    assert all(isinstance(r, PublishedRow) for r in rows)
    assert {r.source_file for r in rows} == {SEED_FILE, CALIBRATION_FILE}
    for r in rows:
        assert r.provenance in ("measured", "estimated", "reported"), r
        assert r.source, r
        assert r.low is not None or r.high is not None, r
        assert r.metric, r


def test_seed_concurrency_figures_with_olares_source():
    olares = "https://blog.olares.com/local-ai-hardware-performance-benchmarking/"
    got = {(r.model_id, r.hardware_id, r.concurrency): r.value for r in _seed()
           if r.metric == "decode_tps" and r.source == olares}
    assert got == {("gpt-oss-120b", "m3-ultra-80c", 1): 69.4, ("gpt-oss-120b", "m3-ultra-80c", 8): 19.1,
                   ("qwen3-30b-a3b", "m3-ultra-80c", 1): 84, ("qwen3-30b-a3b", "m3-ultra-80c", 8): 24.9,
                   ("qwen3-30b-a3b", "m4-max-40c", 1): 81.2, ("qwen3-30b-a3b", "m4-max-40c", 8): 19.9}


def test_ranges_open_ranges_and_labels():
    rows = {(r.model_id, r.quant_id, r.engine_id, r.metric, r.context): r for r in _seed()}
    q4 = rows[("llama-3.3-70b", "Q4_K_M", "llama.cpp", "decode_tps", 4096)]
    assert (q4.low, q4.high, q4.value, q4.label) == (15, 20, 17.5, "reported (blog)")
    mlx = rows[("qwen2.5-7b", "mlx-4bit", "mlx", "decode_tps", 4096)]
    assert (mlx.low, mlx.high, mlx.value) == (240, None, 240)  # "~240+": lower bound only
    est = [r for r in _seed() if r.model_id == "qwen3.5-397b-a17b" and r.metric == "decode_tps"
           and r.provenance == "estimated"]
    assert {(r.quant_id, r.memory_gb, r.low, r.high) for r in est} >= {
        ("IQ4_XS", 256, 50, 70), ("Q4_K_M", 512, 60, 75), ("Q8_0", 512, 30, 40)}
    assert "engine_id" in q4.assumed  # the seed does not name the engine of that table


def test_every_seed_gb_and_tok_s_figure_is_a_row():
    """Every number followed by GB or tok/s in the seed's tables appears as a row value."""
    if not SEED.exists():
        pytest.skip("seed document not present")
    text = SEED.read_text()
    values = {v for r in _seed() for v in (r.low, r.high) if v is not None}
    values |= {r.memory_gb for r in _seed() if r.memory_gb}  # "M3 Ultra (192GB)", "256 GB" configurations
    values |= {v * 1000 for r in _seed() if r.metric == "state_gb" for v in (r.low, r.high)}  # given in MB
    # Not figures: a goal ("the 60-80 tok/s target") and a rounded repeat of 69.4 ("69 tok/s with 20B active").
    not_figures = {(80.0, "target"), (69.0, "with 20B")}
    for m in re.finditer(r"~?(\d+(?:\.\d+)?)\s*(?:GB(?!/s)|tok/s)", text):
        after = text[m.end():m.end() + 12]
        if any(v == float(m.group(1)) and w in after for v, w in not_figures):
            continue
        assert float(m.group(1)) in values, m.group(0)
    for m in re.finditer(r"\| \*{0,2}(\d+(?:\.\d+)?) tok/s", text):
        assert float(m.group(1)) in values


def test_calibration_rows_use_normalized_columns():
    cal = [r for r in load_published_rows() if r.source_file == CALIBRATION_FILE]
    assert len(cal) >= 50
    h100 = [r for r in cal if r.hardware_id == "h100-sxm" and r.model_id == "synthetic-llama-3b"]
    assert {r.label for r in h100} == {"measured (here)"}
    assert all(not r.source.startswith("same") for r in cal)  # "same" resolved to the row above's source
    spark = [r for r in cal if r.hardware_id == "dgx-spark" and r.metric == "aggregate_decode_tps"]
    assert {r.concurrency for r in spark} == {1, 32}


def test_synthetic_model_from_its_name_has_3_02b_parameters():
    key = map_model("synthetic llama 3.02B (28 layers; 3072 hidden; 8192 ffn; 32000 vocab)")
    assert key == "synthetic-llama-3b"
    assert model_spec(key).n_params() / 1e9 == pytest.approx(3.02, abs=0.005)
    assert map_model("no such model") == ""


@pytest.mark.parametrize("quant,bits", [("Q4_K_M", "4-bit"), ("mlx-4bit", "4-bit"), ("IQ4_XS", "4-bit"),
                                        ("MXFP4_MOE", "4-bit"), ("Q8_0", "8-bit"), ("mlx-8bit", "8-bit"),
                                        ("BF16", "16-bit"), ("IQ2_XXS", "2-bit"), ("odd", "odd")])
def test_quant_bits(quant, bits):
    assert quant_bits(quant) == bits
