"""A model spec is checked for consistency where it is built: an impossible file exits 2 naming the field.

The issue's cases, made the way a user makes them (the gguf package's in-place metadata edit, as
``gguf-set-metadata FILE qwen3moe.expert_count 0 --force`` does), then read by the GGUF reader and
run through ``tokbench plan`` in process.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from gguf_spec_writer import write_spec_gguf
from tiny_specs import tiny_specs
from tokbench.cli.main import main
from tokbench.errors import UserError
from tokbench.modelspec import load_spec


def set_meta(path, key: str, value: int) -> None:
    """Change one scalar metadata value in place (what gguf-set-metadata does)."""
    import gguf

    reader = gguf.GGUFReader(path, "r+")
    field = reader.fields[key]
    field.parts[field.data[0]][0] = value


@pytest.fixture(scope="module")
def moe_file(tmp_path_factory):
    return write_spec_gguf(tiny_specs()["qwen3moe"], tmp_path_factory.mktemp("chk") / "moe.gguf")


# (key, value, words the error must contain). tiny qwen3moe: 4 heads, 2 KV heads, 8 experts, 2 used.
ISSUE_CASES = [
    ("qwen3moe.expert_count", 0, "qwen3moe.expert_count"),
    ("qwen3moe.expert_used_count", 4096, "qwen3moe.expert_used_count"),
    ("qwen3moe.attention.head_count_kv", 4096, "qwen3moe.attention.head_count_kv"),
    ("qwen3moe.attention.key_length", 0, "qwen3moe.attention.key_length"),
]


@pytest.mark.parametrize("key,value,words", ISSUE_CASES, ids=[c[0] for c in ISSUE_CASES])
def test_issue_headers_exit_2_naming_the_field(moe_file, tmp_path, capsys, key, value, words):
    path = tmp_path / "m.gguf"
    shutil.copy(moe_file, path)
    set_meta(path, key, value)
    code = main(["plan", str(path), "--hardware", "h100-sxm"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and words in err, err
    with pytest.raises(UserError, match=words.replace(".", r"\.")):
        load_spec(str(path))


def test_every_catalog_model_and_tiny_spec_is_consistent():
    from tokbench.catalog.models import catalog
    from tokbench.modelspec.check import check_spec

    for model in catalog():
        assert load_spec(model).name == model
    for arch, spec in tiny_specs().items():
        assert check_spec(spec, arch, "config") is spec


@pytest.mark.parametrize("arch,key,value,words", [
    ("deepseek2", "deepseek2.attention.head_count", 8, "deepseek2.attention.head_count"),
    ("deepseek2", "deepseek2.attention.kv_lora_rank", 16, "deepseek2.attention.kv_lora_rank"),
    ("deepseek2", "deepseek2.leading_dense_block_count", 3, "deepseek2.leading_dense_block_count"),
    ("llama", "llama.block_count", 7, "llama.block_count is 7 but the file holds tensors of layers 0-3"),
    ("llama", "llama.embedding_length", 128, "llama.embedding_length"),
    ("gemma3", "gemma3.attention.key_length", 32, "gemma3.attention.key_length"),
])
def test_other_lies_name_their_key(tmp_path, arch, key, value, words):
    path = write_spec_gguf(tiny_specs()[arch], tmp_path / "m.gguf")
    set_meta(path, key, value)
    with pytest.raises(UserError) as exc:
        load_spec(str(path))
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_config_json_names_its_own_keys(tmp_path, capsys):
    from tokbench.catalog.models import catalog

    cfg = dict(catalog()["gpt-oss-20b"]["config"])
    del cfg["num_local_experts"]  # gpt-oss has experts in every layer: its layout needs the count
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    code = main(["plan", str(tmp_path / "config.json"), "--hardware", "h100-sxm"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1
    assert "inconsistent config.json: 'num_local_experts' is 0 but the gpt-oss layout has expert tensors" in err


def test_check_names_fields_by_source():
    from tokbench.modelspec.check import check_spec

    spec = tiny_specs()["qwen3moe"]
    with pytest.raises(UserError, match=r"x: inconsistent config.json: 'num_experts_per_tok' \(9\) must be between"):
        check_spec(replace(spec, n_experts_used=9), "x", "config")
    with pytest.raises(UserError, match=r"qwen3moe.expert_used_count \(9\)"):
        check_spec(replace(spec, n_experts_used=9), "x", "gguf")
    with pytest.raises(UserError, match="'head_dim' is 0; it must be positive"):
        check_spec(replace(spec, head_dim=0), "x", "config")
    hybrid = tiny_specs()["qwen3next"]
    with pytest.raises(UserError, match="'linear_conv_kernel_dim' is 0"):
        check_spec(replace(hybrid, conv_kernel=0), "x", "config")
