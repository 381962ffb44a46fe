"""`tokbench models` and `tokbench plan --list`: the catalog with family/arch/size filters."""

from __future__ import annotations

import json

import pytest

from tokbench.catalog.models import model_ids
from tokbench.cli.main import main


def _json(capsys, *argv) -> list[dict]:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)["models"]


def test_models_lists_the_whole_catalog(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert f"Model catalog ({len(model_ids())} models" in out
    for text in ("qwen3.5-397b-a17b", "kimi-k2", "nemotron-3-nano-30b-a3b", "23 mamba + 23 ffn + 6 full", "8/256"):
        assert text in out, text


def test_json_rows(capsys):
    rows = _json(capsys, "models")
    assert len(rows) == len(model_ids()) >= 30
    row = next(r for r in rows if r["id"] == "deepseek-v3.2")
    assert row["family"] == "deepseek" and row["arch"] == "deepseek32" and row["n_experts"] == 256
    assert row["layer_kinds"] == {"dsa": 61} and row["source"]
    assert row["total_params"] == pytest.approx(row["published_total"], rel=0.02)


def test_plan_list_is_the_same_listing(capsys):
    assert _json(capsys, "plan", "--list", "--family", "glm") == _json(capsys, "models", "--family", "glm")
    assert {r["id"] for r in _json(capsys, "models", "--family", "glm")} == {"glm-4.7", "glm-4.5-air", "glm-4.7-flash"}


def test_size_filters(capsys):
    rows = _json(capsys, "models", "--max-active", "4B", "--min-params", "20b")
    assert rows and all(r["active_params"] <= 4e9 and r["total_params"] >= 20e9 for r in rows)
    assert "qwen3.5-35b-a3b" in {r["id"] for r in rows}
    rows = _json(capsys, "plan", "--list", "--min-params", "1T")
    assert {r["id"] for r in rows} == {"kimi-k2"}
    assert _json(capsys, "models", "--arch", "qwen35moe", "--max-params", "40B") == \
        [r for r in _json(capsys, "models", "--family", "qwen") if r["arch"] == "qwen35moe" and r["total_params"] <= 40e9]


@pytest.mark.parametrize("argv, needle", [
    (["models", "--family", "qwn"], "qwen"),
    (["models", "--arch", "gemma5"], "gemma4"),
    (["models", "--max-params", "lots"], "--max-params must be a parameter count"),
    (["plan", "--list", "--min-active", "3X"], "--min-active"),
    (["plan", "qwen3-4b", "--family", "qwen"], "filter 'plan --list'"),
])
def test_bad_filters_exit_2_with_one_line(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err


def test_every_catalog_model_plans(capsys):
    """Each listed id is a plan target (one quant, no hardware: the model-size column)."""
    for model in model_ids():
        assert main(["plan", model, "--quant", "Q4_K_M", "--json"]) == 0, model
        rows = json.loads(capsys.readouterr().out)["rows"]
        assert rows[0]["weights_bytes"] > 0 and rows[0]["kv_bytes"] > 0, model
