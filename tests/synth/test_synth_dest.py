"""synth never writes over what it did not create: refusals, --force on its own output, temp names."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from tokbench.errors import UserError
from tokbench.synth import DEFAULT_SPEC, synthesize
from tokbench.synth import writer as writer_mod
from tokbench.synth.dest import MLX_MARKER, gguf_file_name

SMALL = replace(DEFAULT_SPEC, name="small", n_layers=1, hidden=256, n_heads=4, n_kv_heads=2, intermediate=512,
                vocab=512)


def _tree(root):
    """Every file under root with its bytes (what must not change)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _hf_dir(root):
    d = root / "my_hf_model_dir"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "llama", "mine": true}')
    (d / "model.safetensors").write_bytes(b"not really")
    return d


def test_mlx_into_a_users_model_dir_is_refused_with_and_without_force(tmp_path):
    d = _hf_dir(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(UserError, match="not empty") as exc:
        synthesize(SMALL, "mlx-4bit", d, vocab=512)
    assert "\n" not in str(exc.value)
    with pytest.raises(UserError, match="did not write"):
        synthesize(SMALL, "mlx-4bit", d, vocab=512, force=True)
    assert _tree(tmp_path) == before  # config.json untouched, no temporary left behind


def test_mlx_over_a_file_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for force in (False, True):
        with pytest.raises(UserError, match="is a file"):
            synthesize(SMALL, "mlx-4bit", tmp_path / "notes.txt", vocab=512, force=force)
    assert _tree(tmp_path) == {"notes.txt": b"mine"}


def test_mlx_force_replaces_only_its_own_output(tmp_path):
    out = synthesize(SMALL, "mlx-4bit", tmp_path / "m", vocab=512)
    assert json.loads((out / "config.json").read_text())["architectures"] == [MLX_MARKER]
    with pytest.raises(UserError, match="--force"):
        synthesize(SMALL, "mlx-8bit", out, vocab=512)
    assert json.loads((out / "config.json").read_text())["quantization"]["bits"] == 4
    synthesize(SMALL, "mlx-8bit", out, vocab=512, force=True)
    assert json.loads((out / "config.json").read_text())["quantization"]["bits"] == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # the old copy and temporaries are gone
    (out / "README.md").write_text("my notes")
    with pytest.raises(UserError, match="README.md"):
        synthesize(SMALL, "mlx-4bit", out, vocab=512, force=True)
    assert (out / "README.md").read_text() == "my notes"


def test_mlx_into_an_empty_dir_uses_it(tmp_path):
    (tmp_path / "empty").mkdir()
    out = synthesize(SMALL, "mlx-4bit", tmp_path / "empty", vocab=512)
    assert out == tmp_path / "empty" and (out / "model.safetensors").is_file()
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())  # not mkdtemp's private 0700


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_gguf_existing_file_needs_force_and_must_be_a_gguf(tmp_path):
    path = synthesize(SMALL, "Q4_K_M", tmp_path / "m.gguf", vocab=512)
    first = path.read_bytes()
    with pytest.raises(UserError, match="exists; pass --force"):
        synthesize(SMALL, "Q8_0", path, vocab=512)
    assert path.read_bytes() == first
    synthesize(SMALL, "Q8_0", path, vocab=512, force=True)
    assert path.read_bytes() != first and path.read_bytes()[:4] == b"GGUF"
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not a GGUF file"):
        synthesize(SMALL, "Q4_K_M", tmp_path / "notes.txt", vocab=512, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gguf", "notes.txt"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def test_gguf_into_an_existing_directory_gets_a_name(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "other.gguf").write_bytes(b"GGUF keep")
    path = synthesize(SMALL, "Q4_K_M", tmp_path / "models", vocab=512)
    assert path == tmp_path / "models" / gguf_file_name("small", "Q4_K_M") == tmp_path / "models" / "small-Q4_K_M.gguf"
    assert (tmp_path / "models" / "other.gguf").read_bytes() == b"GGUF keep"
    with pytest.raises(UserError, match="exists"):
        synthesize(SMALL, "Q4_K_M", tmp_path / "models", vocab=512)


def test_a_file_appearing_during_the_write_is_kept(tmp_path, monkeypatch):
    """The final rename does not clobber: a file created at the destination mid-write survives."""
    real = writer_mod.write_gguf

    def racing(path, *a, **kw):
        out = real(path, *a, **kw)
        (tmp_path / "m.gguf").write_text("someone else's")
        return out

    monkeypatch.setattr(writer_mod, "write_gguf", racing)
    with pytest.raises(UserError, match="appeared while writing"):
        synthesize(SMALL, "Q4_K_M", tmp_path / "m.gguf", vocab=512)
    assert _tree(tmp_path) == {"m.gguf": b"someone else's"}


def test_failure_removes_temporaries_and_created_parents(tmp_path, monkeypatch):
    def boom(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer_mod, "write_gguf", boom)
    with pytest.raises(KeyboardInterrupt):
        synthesize(SMALL, "Q4_K_M", tmp_path / "new" / "sub" / "m.gguf", vocab=512)
    assert list(tmp_path.iterdir()) == []
    from tokbench.synth import mlx as mlx_mod

    monkeypatch.setattr(mlx_mod, "_write_shard", boom)
    with pytest.raises(KeyboardInterrupt):
        synthesize(SMALL, "mlx-4bit", tmp_path / "new" / "m", vocab=512)
    assert list(tmp_path.iterdir()) == []


def test_marker_is_what_the_mlx_writer_writes():
    from tokbench.synth.mlx import hf_config

    assert hf_config(SMALL, None, 512)["architectures"] == [MLX_MARKER]
