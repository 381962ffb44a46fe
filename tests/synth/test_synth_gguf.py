"""GGUF synthesis without an engine: file structure, exact sizes, determinism, disk checks, cleanup."""

import hashlib
from collections import namedtuple
from dataclasses import replace

import pytest
from gguf import GGUFReader

from tokbench.errors import UserError
from tokbench.quant.llamacpp import tensor_types, weights_bytes
from tokbench.modelspec import load_spec
from tokbench.synth import DEFAULT_SPEC, prepare, synthesize
from tokbench.synth import gguf as gguf_mod
from tokbench.synth.blocks import BlockSource

SMALL = replace(DEFAULT_SPEC, n_layers=2, hidden=256, n_heads=4, n_kv_heads=2, intermediate=512, vocab=512)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "model,quant",
    [("llama-3.1-8b", "Q4_K_M"), ("qwen2.5-7b", "Q5_K_S"), ("qwen3-30b-a3b", "IQ4_XS"), ("gpt-oss-20b", "MXFP4_MOE"),
     ("qwen3-next-80b-a3b", "Q3_K_M"), ("deepseek-v3", "Q2_K"), ("gemma-3-27b", "Q6_K"), ("llama-3.1-8b", "IQ2_XXS")],
)
def test_types_shapes_and_bytes_match_planner(tmp_path, model, quant):
    spec = replace(load_spec(model), n_experts=min(load_spec(model).n_experts, 8) or 0)
    target = prepare(spec, scale_layers=min(spec.n_layers, 4), scale_width=0.0625, vocab=512)
    path = synthesize(target, quant, tmp_path / "m.gguf", vocab=512)
    reader = GGUFReader(path)
    types = tensor_types(target, quant)
    got = {t.name: t for t in reader.tensors}
    assert set(got) == {t.name for t in target.tensors()}
    for t in target.tensors():
        assert got[t.name].tensor_type.name == types[t.name]
        assert tuple(int(x) for x in got[t.name].shape) == t.shape
    # The data section equals the planner's weights_bytes exactly (plus alignment padding).
    assert sum(int(t.n_bytes) for t in reader.tensors) == weights_bytes(target, quant)
    assert reader.fields["general.architecture"].contents() == target.arch
    assert reader.fields[f"{target.arch}.block_count"].contents() == target.n_layers


def test_file_size_is_predicted_exactly(tmp_path):
    path = synthesize(SMALL, "Q4_K_M", tmp_path / "m.gguf", vocab=512)
    from tokbench.synth.writer import gguf_metadata, tensor_entries
    from tokbench.quant.presets import get_preset

    entries = tensor_entries(SMALL, get_preset("Q4_K_M"))
    head = gguf_mod.header_bytes(gguf_metadata(SMALL, get_preset("Q4_K_M")), entries)
    assert path.stat().st_size == len(head) + gguf_mod.data_bytes(entries)


def test_seed_determinism(tmp_path):
    a = synthesize(SMALL, "Q4_K_M", tmp_path / "a.gguf", seed=3, vocab=512)
    b = synthesize(SMALL, "Q4_K_M", tmp_path / "b.gguf", seed=3, vocab=512)
    c = synthesize(SMALL, "Q4_K_M", tmp_path / "c.gguf", seed=4, vocab=512)
    assert _sha(a) == _sha(b) != _sha(c)


def test_not_enough_disk_checked_before_writing(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(gguf_mod.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(UserError, match="not enough disk space"):
        synthesize(SMALL, "Q4_K_M", tmp_path / "m.gguf", vocab=512)
    assert list(tmp_path.iterdir()) == []


def test_interrupt_leaves_no_partial_file(tmp_path, monkeypatch):
    real = BlockSource.chunks

    def boom(self, name, type_name, nbytes):
        if name == "blk.1.ffn_up.weight":
            raise KeyboardInterrupt
        yield from real(self, name, type_name, nbytes)

    monkeypatch.setattr(BlockSource, "chunks", boom)
    with pytest.raises(KeyboardInterrupt):
        synthesize(SMALL, "Q4_K_M", tmp_path / "m.gguf", vocab=512)
    assert list(tmp_path.iterdir()) == []


def test_bad_combinations_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="GGUF synthesis supports architectures"):
        synthesize(SMALL, "mlx-4bit", tmp_path / "m.gguf", fmt="gguf")
    with pytest.raises(UserError, match="unknown quant"):
        synthesize(SMALL, "Q4_K_Z", tmp_path / "m.gguf")
    with pytest.raises(UserError, match="MLX synthesis supports"):
        synthesize(SMALL, "Q4_K_M", tmp_path / "d", fmt="mlx")
    with pytest.raises(UserError, match="for MLX; supported"):
        synthesize(load_spec("deepseek-v3"), "mlx-4bit", tmp_path / "d", scale_layers=1, scale_width=0.05)
    with pytest.raises(UserError, match="--vocab"):
        synthesize(SMALL, "Q4_K_M", tmp_path / "m.gguf", vocab="lots")
    assert not any(tmp_path.glob("*.gguf*"))
