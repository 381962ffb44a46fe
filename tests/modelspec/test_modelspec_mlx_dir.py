"""MLX model directories: quantization from config.json, exact bytes from safetensors headers."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from tokbench.catalog.models import catalog
from tokbench.errors import UserError
from tokbench.modelspec import load_spec
from tokbench.modelspec.mlx_dir import read_mlx_dir, read_safetensors_header

save_file = pytest.importorskip("safetensors.numpy").save_file


def make_dir(tmp_path, quantization=None, shards=2):
    cfg = dict(catalog()["qwen2.5-7b"]["config"], num_hidden_layers=2, hidden_size=64, num_attention_heads=4,
               num_key_value_heads=2, head_dim=16, intermediate_size=128, vocab_size=256)
    if quantization is not None:
        cfg["quantization"] = quantization
        cfg["quantization_config"] = quantization
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    # 4-bit affine, group 64: a (out, in) matrix packs into uint32 (out, in/8) + scales/biases (out, in/64)
    for i in range(shards):
        save_file({
            f"model.layers.{i}.mlp.up_proj.weight": np.zeros((128, 8), dtype=np.uint32),
            f"model.layers.{i}.mlp.up_proj.scales": np.zeros((128, 1), dtype=np.float16),
            f"model.layers.{i}.mlp.up_proj.biases": np.zeros((128, 1), dtype=np.float16),
            f"model.layers.{i}.input_layernorm.weight": np.zeros((64,), dtype=np.float16),
        }, str(tmp_path / f"model-0000{i + 1}-of-0000{shards}.safetensors"))
    return tmp_path


def test_quantized_dir(tmp_path):
    q = {"group_size": 64, "bits": 4, "mode": "affine", "model.embed_tokens": {"group_size": 32, "bits": 8}, "lm_head": False}
    model = read_mlx_dir(make_dir(tmp_path, q))
    assert model.quant is not None and model.quant.preset == "mlx-4bit"
    assert model.quant.overrides == {"model.embed_tokens": {"group_size": 32, "bits": 8, "mode": "affine"}, "lm_head": False}
    per_shard = 128 * 8 * 4 + 128 * 2 + 128 * 2 + 64 * 2
    assert model.weights_bytes == 2 * per_shard
    assert len(model.tensors) == 8 and model.tensors[0].dtype in ("U32", "F16")
    spec = load_spec(str(tmp_path))  # resolve.py routes safetensors dirs here
    assert spec.file_type == "mlx-4bit" and spec.weights_bytes == 2 * per_shard and spec.n_layers == 2


@pytest.mark.parametrize(
    "quant, preset",
    [({"group_size": 32, "bits": 4}, "mlx-4bit-g32"), ({"group_size": 128, "bits": 8}, "mlx-8bit-g128"),
     ({"mode": "mxfp4", "group_size": 32, "bits": 4}, "mlx-mxfp4"), ({"mode": "nvfp4"}, "mlx-nvfp4")],
)
def test_presets(tmp_path, quant, preset):
    assert read_mlx_dir(make_dir(tmp_path, quant, shards=1)).quant.preset == preset


def test_unquantized_and_hf_quant_method(tmp_path):
    assert read_mlx_dir(make_dir(tmp_path)).quant is None
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["quantization_config"] = {"quant_method": "mxfp4"}  # gpt-oss style HF config: not an MLX quantization
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert read_mlx_dir(tmp_path).quant is None


@pytest.mark.parametrize(
    "quant, key",
    [({"bits": "4", "group_size": 64}, "quantization.bits"), ({"bits": 4, "group_size": 0}, "quantization.group_size"),
     ({"bits": 4, "mode": "fp3"}, "quantization.mode"), ({"bits": 4, "model.x": 7}, "quantization.model.x")],
)
def test_bad_quantization_names_key(tmp_path, quant, key):
    with pytest.raises(UserError, match=f"'{key}"):
        read_mlx_dir(make_dir(tmp_path, quant, shards=1))


def test_corrupt_safetensors(tmp_path):
    make_dir(tmp_path, {"bits": 4, "group_size": 64}, shards=1)
    f = next(tmp_path.glob("*.safetensors"))
    data = f.read_bytes()
    f.write_bytes(data[:-10])
    with pytest.raises(UserError, match="truncated safetensors"):
        read_safetensors_header(f)
    f.write_bytes(struct.pack("<Q", 1 << 50) + data[8:])
    with pytest.raises(UserError, match="header claims"):
        read_safetensors_header(f)
    f.write_bytes(struct.pack("<Q", 5) + b"{oops" + b"\0" * 10)
    with pytest.raises(UserError, match="not JSON"):
        load_spec(str(tmp_path))
    f.write_bytes(b"\x01")
    with pytest.raises(UserError, match="truncated"):
        read_safetensors_header(f)
