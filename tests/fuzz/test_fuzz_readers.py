"""Hostile input for the readers of files users hand tokbench: GGUF headers and config.json.

20,000 seeded mutated inputs in all (10,000 per reader, in chunks so each test stays short), plus
hand-made worst cases: every input ends in a result or a one-line UserError, within a per-input
time bound and with a bounded peak allocation (tracemalloc).
"""

from __future__ import annotations

import os
import struct
import time
import tracemalloc

import pytest

from tb_fuzz import config_inputs, config_seeds, fuzz_loop, gguf_inputs, gguf_seeds, gguf_target
from tb_fuzz import config_target
from tokbench.errors import UserError
from tokbench.modelspec.gguf_header import parse_gguf_header

CHUNKS = 4
PER_READER = 10_000  # the floor, per reader


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return gguf_seeds(tmp_path_factory.mktemp("fuzz"))


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_gguf_mutations(seeds, chunk):
    stats = fuzz_loop(gguf_inputs(seeds, PER_READER // CHUNKS, seed=1000 + chunk), gguf_target, trace_every=4)
    assert stats.inputs == PER_READER // CHUNKS
    # The mutations reach past the magic and counts: some inputs still parse, most fail in many ways.
    assert stats.accepted > 0 and stats.rejected > stats.inputs // 2 and len(stats.messages) >= 3
    assert stats.max_peak_bytes < 16 << 20


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_config_mutations(chunk):
    stats = fuzz_loop(config_inputs(config_seeds(), PER_READER // CHUNKS, seed=2000 + chunk), config_target,
                      trace_every=4)
    assert stats.inputs == PER_READER // CHUNKS
    assert stats.accepted > 0 and stats.rejected > 0 and len(stats.messages) >= 10


def _traced(fn):
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(UserError) as exc:
            fn()
        return str(exc.value), tracemalloc.get_traced_memory()[1], time.perf_counter() - t0
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("offset,value", [(8, 1 << 40), (16, 1 << 40), (8, 2**64 - 1), (16, 2**63)])
def test_huge_counts_allocate_nothing(seeds, offset, value):
    bad = bytearray(seeds[0])
    struct.pack_into("<Q", bad, offset, value)
    msg, peak, dt = _traced(lambda: parse_gguf_header(bytes(bad), require_data=False))
    assert "cannot fit" in msg and "\n" not in msg
    assert peak < 2 * len(bad) + (256 << 10) and dt < 0.5  # about one copy of the input, no more


def test_sparse_file_with_a_billion_strings_is_bounded(tmp_path):
    """A 2 GiB sparse file whose string array claims 2^27 (empty) strings: the counts fit the file,
    so only the reader's cap on strings walked stops it; it must stop fast and allocate little."""
    key = b"tokenizer.ggml.tokens"
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key
    head += struct.pack("<II", 9, 8) + struct.pack("<Q", 1 << 27)
    path = tmp_path / "sparse.gguf"
    with open(path, "wb") as f:
        f.write(head)
    os.truncate(path, 2 << 30)
    msg, peak, dt = _traced(lambda: parse_gguf_header(path, require_data=False))
    assert "strings" in msg and peak < 1 << 20 and dt < 10, (msg, peak, dt)


def test_control_characters_in_names_stay_on_one_line(seeds):
    raw = bytearray(seeds[0])
    i = raw.find(b"blk.0.")
    raw[i:i + 6] = b"bl\nk\r\x00"  # same length: the file stays well-formed up to the bad name
    bad = bytes(raw)
    try:
        gguf_target(bad)
    except UserError as exc:
        assert "\n" not in str(exc) and "\r" not in str(exc)


def test_hostile_config_layer_count_is_refused_fast():
    cfg = dict(config_seeds()[0], num_hidden_layers=2**63)
    msg, peak, dt = _traced(lambda: config_target(cfg))
    assert "num_hidden_layers" in msg and peak < 1 << 20 and dt < 0.5
    with pytest.raises(UserError, match="model_type"):
        config_target(dict(cfg, model_type=["llama"]))
