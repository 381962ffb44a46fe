"""GGUF headers read in ranges: the probe finds the tensor records past a 7 MB tokenizer with a few
hundred KiB, the result equals a full parse, and anything the probe cannot verify is read whole."""

from __future__ import annotations

import pytest

from tb_fake_hub import Sparse
from tokbench.errors import UserError
from tokbench.modelspec import gguf_probe, gguf_remote
from tokbench.modelspec.gguf_header import parse_gguf_header
from tokbench.modelspec.gguf_remote import read_remote_header


def _reader(data: bytes, log: list):
    def read(start: int, n: int) -> bytes:
        log.append((start, n))
        return data[start:start + n]
    return read


def test_probe_reads_a_llama_cpp_header_exactly_with_little(llama_gguf):
    path, _ = llama_gguf
    data = path.read_bytes()
    full = parse_gguf_header(path)
    assert full.data_offset > 5_000_000  # the 248k-token vocabulary
    log: list = []
    got = read_remote_header(len(data), _reader(data, log), "remote")
    assert got.method == "probe"
    assert got.header.tensors == full.tensors and got.header.data_offset == full.data_offset
    assert got.header.metadata["general.file_type"] == 15  # appended by llama-quantize after the tokenizer
    assert got.fetched == sum(n for _, n in log) < full.data_offset / 8
    assert got.requests == len(log) < 30


def test_small_header_is_read_in_one_request(llama_gguf):
    _, splits = llama_gguf
    data = splits[1].read_bytes()
    log: list = []
    got = read_remote_header(len(data), _reader(data, log), "second split")
    assert got.method == "sequential" and len(log) == 1
    assert got.header.tensors == parse_gguf_header(splits[1]).tensors
    assert got.header.metadata["split.no"] == 1


def test_zero_filled_data_after_the_header(llama_gguf):
    path, _ = llama_gguf
    head = path.read_bytes()[: parse_gguf_header(path).data_offset]
    sparse = Sparse(head, path.stat().st_size)  # same header, tensor data all zeros
    got = read_remote_header(sparse.size, lambda s, n: sparse.read(s, s + n), "zeros")
    assert got.method == "probe" and got.header.tensors == parse_gguf_header(path).tensors


def test_unverifiable_probe_falls_back_to_an_exact_read(llama_gguf, monkeypatch):
    path, _ = llama_gguf
    data = path.read_bytes()
    real = gguf_probe.probe_tail

    def wrong(*a, **k):  # a layout that cannot be this file's: one tensor record dropped
        tail, tensors, end = real(*a, **k)
        return tail, tensors[1:], end

    monkeypatch.setattr(gguf_probe, "probe_tail", wrong)
    got = read_remote_header(len(data), _reader(data, []), "remote")
    assert got.method == "sequential" and got.header.tensors == parse_gguf_header(path).tensors
    monkeypatch.setattr(gguf_probe, "probe_tail", lambda *a, **k: None)
    assert read_remote_header(len(data), _reader(data, []), "remote").header.tensors == parse_gguf_header(path).tensors


@pytest.mark.parametrize("cut", [3, 20, 100_000, 7_000_000])
def test_malformed_and_truncated_headers_are_one_line(llama_gguf, cut):
    path, _ = llama_gguf
    data = path.read_bytes()[:cut]
    with pytest.raises(UserError) as err:
        read_remote_header(len(data), _reader(data, []), "remote")
    assert "\n" not in str(err.value) and "remote" in str(err.value)


def test_bad_magic():
    data = b"GGML" + bytes(4096)
    with pytest.raises(UserError, match="magic"):
        read_remote_header(len(data), _reader(data, []), "remote")


def test_sparse_buffer_fetches_only_gaps():
    data = bytes(range(256)) * 64
    log: list = []
    sp = gguf_remote.Sparse(len(data), _reader(data, log), "x")
    sp.fetch(100, 100)
    sp.fetch(50, 300)
    assert log == [(100, 100), (50, 50), (200, 150)] and sp.covered(50, 350) and not sp.covered(40, 60)
    assert bytes(sp.buf[50:350]) == data[50:350]
