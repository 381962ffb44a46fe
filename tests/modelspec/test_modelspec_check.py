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


@pytest.mark.xfail(strict=True, reason="issue 17: reproduced before the spec check exists")
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
