"""GGUF header reader: round trips through gguf.GGUFWriter, and clean one-line errors on bad input."""

from __future__ import annotations

import dataclasses
import os
import struct
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gguf_spec_writer import hparams, write_spec_gguf
from tiny_specs import tiny_specs
from tokbench.errors import UserError
from tokbench.modelspec import load_spec
from tokbench.modelspec.gguf_header import GGUFArray, parse_gguf_header, spec_from_gguf


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    return write_spec_gguf(tiny_specs()["llama"], path, dtype="F16")


@pytest.mark.parametrize("arch", sorted(tiny_specs()))
def test_round_trip_every_arch(arch, tmp_path):
    spec = tiny_specs()[arch]
    path = write_spec_gguf(spec, tmp_path / "m.gguf", dtype="F16")
    read = spec_from_gguf(path)
    assert dataclasses.replace(read, source=spec.source, weights_bytes=None, file_type=None) == spec
    assert [(t.name, t.shape) for t in read.tensors()] == [(t.name, t.shape) for t in spec.tensors()]
    assert {t.ggml_type for t in read.tensors() if len(t.shape) >= 2} == {"F16"}
    assert {t.ggml_type for t in read.tensors() if len(t.shape) == 1} == {"F32"}
    assert read.file_type == "F16"
    expected = sum(t.n_elements * (2 if len(t.shape) >= 2 else 4) for t in spec.tensors())
    assert read.weights_bytes == expected


def test_load_spec_reads_gguf_and_header_fields(tiny_llama):
    spec = load_spec(str(tiny_llama))
    assert spec.name == "tiny-llama" and spec.arch == "llama" and spec.n_layers == 4
    header = parse_gguf_header(tiny_llama)
    assert header.version == 3 and header.alignment == 32 and header.data_offset % 32 == 0
    assert header.metadata["tokenizer.ggml.model"] == "llama"
    assert len(header.metadata["tokenizer.ggml.tokens"]) == spec.vocab


def test_quantized_file_type_maps_to_preset(tiny_llama, tmp_path):
    llama_cpp = pytest.importorskip("llama_cpp")
    out = tmp_path / "q.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    assert llama_cpp.llama_model_quantize(str(tiny_llama).encode(), str(out).encode(), params) == 0
    spec = spec_from_gguf(out)
    assert spec.file_type == "Q8_0"
    assert spec.tensor_list is not None and any(t.ggml_type == "Q8_0" for t in spec.tensor_list)
    assert spec.weights_bytes == sum(t.nbytes for t in parse_gguf_header(out).tensors)


def _errors(data: bytes) -> str:
    with pytest.raises(UserError) as err:
        parse_gguf_header(data)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_truncated_everywhere(tiny_llama):
    data = tiny_llama.read_bytes()
    header_end = parse_gguf_header(data).data_offset
    cuts = list(range(0, 64)) + list(range(64, header_end, 97)) + [header_end, len(data) - 1]
    for cut in cuts:
        assert _errors(data[:cut])


def test_truncated_file_on_disk(tiny_llama, tmp_path):
    bad = tmp_path / "cut.gguf"
    bad.write_bytes(tiny_llama.read_bytes()[:-100])
    with pytest.raises(UserError, match="truncated GGUF file"):
        load_spec(str(bad))
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="truncated"):
        spec_from_gguf(empty)


def test_hostile_counts_fail_fast(tiny_llama):
    data = bytearray(tiny_llama.read_bytes())
    start = time.perf_counter()
    for offset, value in ((8, 1 << 40), (16, 1 << 40), (8, 2**64 - 1)):
        bad = bytearray(data)
        struct.pack_into("<Q", bad, offset, value)
        assert "cannot fit" in _errors(bytes(bad))
    # a 2^60-element tokens array
    pos = data.find(b"tokenizer.ggml.tokens") + len(b"tokenizer.ggml.tokens") + 8
    bad = bytearray(data)
    struct.pack_into("<Q", bad, pos, 1 << 60)
    assert "cannot fit" in _errors(bytes(bad))
    assert time.perf_counter() - start < 1.0


def test_bad_magic_version_and_types(tiny_llama):
    data = tiny_llama.read_bytes()
    assert "magic" in _errors(b"GGUX" + data[4:])
    assert "version" in _errors(data[:4] + struct.pack("<I", 7) + data[8:])
    assert "big-endian" in _errors(data[:4] + struct.pack(">I", 3) + data[8:])
    pos = data.find(b"general.name") + len(b"general.name")
    assert "unknown value type" in _errors(data[:pos] + struct.pack("<I", 99) + data[pos + 4 :])


def test_missing_hparams_is_user_error(tmp_path):
    import gguf

    path = tmp_path / "nohp.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(UserError, match="llama.block_count"):
        spec_from_gguf(path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutations_only_raise_user_error(tiny_llama, data):
    raw = bytearray(tiny_llama.read_bytes()[:20000])
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    try:
        parse_gguf_header(bytes(raw), require_data=False)
    except UserError as exc:
        assert "\n" not in str(exc)


def test_multi_gb_header_parses_fast(tmp_path):
    """A 15 GB (sparse) Qwen2.5-7B-shaped F16 file with a real-sized vocab parses in well under 1 s."""
    import gguf

    spec = load_spec("qwen2.5-7b")
    path = tmp_path / "big.gguf"
    w = gguf.GGUFWriter(str(path), spec.arch)
    for key, value in hparams(spec).items():
        (w.add_uint32 if isinstance(value, int) else w.add_float32)(f"{spec.arch}.{key}", value)
    w.add_token_list([f"t{i}" for i in range(spec.vocab)])
    for t in spec.tensors():
        dt = np.dtype(np.float16 if len(t.shape) >= 2 else np.float32)
        w.add_tensor_info(t.name, tuple(reversed(t.shape)), dt, t.n_elements * dt.itemsize)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    header = parse_gguf_header(path, require_data=False)
    os.truncate(path, header.data_offset + max(t.offset + t.nbytes for t in header.tensors))
    assert path.stat().st_size > 15e9
    start = time.perf_counter()
    read = spec_from_gguf(path)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, elapsed
    assert read.n_params() == spec.n_params() and read.vocab == spec.vocab
    assert isinstance(parse_gguf_header(path).metadata["tokenizer.ggml.tokens"], GGUFArray)
