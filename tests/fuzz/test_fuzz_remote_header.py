"""Hostile GGUF headers read by range requests (``tokbench plan OWNER/NAME``): the probe that skips
the tokenizer must end in a header or a one-line UserError, within the time and memory bounds, and
whenever both it and a full sequential parse accept a file they agree exactly.

Seeds: synth headers of the architectures added for current models (Qwen3.5, GLM-4.x, MiniMax-M2,
Llama 4, Nemotron-H, DeepSeek-V3.2, Gemma 4), two with a 12,000-token vocabulary so its header is
larger than the first read and the probe path runs; the "file" is the header followed by zeros up
to the size its tensors need.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tb_fuzz import HOSTILE_U64, fuzz_loop, mutate_bytes, _u64_positions  # noqa: F401
from tokbench.errors import UserError
from tokbench.modelspec.gguf_header import GGUFArray, parse_gguf_header, spec_from_header
from tokbench.modelspec.gguf_remote import HEAD_BYTES, read_remote_header

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "modelspec"))

N_INPUTS = 1500
# Traced inputs (tracemalloc) run ~10x slower: decoding a 12k-token vocabulary allocates 30k strings
TIME_BOUND_S = 6.0
CHUNKS = 3


def _seed(spec, quant: str = "Q4_K_M") -> tuple[bytes, int]:
    from tokbench.quant.presets import get_preset
    from tokbench.synth.gguf import data_bytes, header_bytes
    from tokbench.synth.writer import gguf_metadata, tensor_entries

    preset = get_preset(quant)
    entries = tensor_entries(spec, preset)
    head = header_bytes(gguf_metadata(spec, preset), entries)
    return head, len(head) + data_bytes(entries)


@pytest.fixture(scope="module")
def seeds() -> list[tuple[bytes, int]]:
    from tiny_families import tiny_families

    specs = tiny_families()
    out = [_seed(replace(specs["qwen35"], vocab=12_000)), _seed(replace(specs["gemma4"], vocab=12_000), "Q8_0")]
    out += [_seed(specs[k]) for k in ("glm4moe", "minimax-m2", "llama4", "nemotron_h_moe", "deepseek32")]
    assert len(out[0][0]) > 3 * HEAD_BYTES  # the probe runs on this one
    return out


def _inputs(seeds, n: int, seed: int):
    import random

    rng = random.Random(seed)
    hots = [_u64_positions(h) for h, _ in seeds]
    for _ in range(n):
        k = rng.randrange(len(seeds))
        head, size = seeds[k]
        data = mutate_bytes(rng, head, hots[k])
        yield data, size + len(data) - len(head)  # same data section behind the (re)written header


def _array(value) -> bool:
    return isinstance(value, (GGUFArray, tuple))


class Outcomes:
    probe = agree = 0


def _target(item, outcomes: Outcomes) -> None:
    data, size = item
    got = read_remote_header(size, lambda s, n: data[s:s + n] + bytes(max(0, min(n, size - s) - max(0, len(data) - s))),
                             "fuzz")
    outcomes.probe += got.method == "probe"
    try:
        full = parse_gguf_header(data, require_data=False)
    except UserError:
        full = None  # e.g. a corrupted tokenizer string: the probe never reads it
    if full is not None:
        h = got.header
        assert (h.tensors, h.data_offset, h.alignment) == (full.tensors, full.data_offset, full.alignment)
        # the probe reads no tokenizer array; every other key is read and equal
        assert {k: v for k, v in h.metadata.items() if k in full.metadata and not _array(v)} == \
            {k: v for k, v in full.metadata.items() if k in h.metadata and not _array(v)}
        assert all(_array(v) for k, v in full.metadata.items() if k not in h.metadata)
        outcomes.agree += 1
    spec_from_header(got.header, "<fuzz>").tensors()


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_remote_header_mutations(seeds, chunk):
    outcomes = Outcomes()
    stats = fuzz_loop(_inputs(seeds, N_INPUTS // CHUNKS, seed=7000 + chunk), lambda x: _target(x, outcomes),
                      time_bound_s=TIME_BOUND_S, trace_every=16)
    assert stats.inputs == N_INPUTS // CHUNKS
    assert stats.accepted > 0 and stats.rejected > 0 and outcomes.agree > 0 and outcomes.probe > 0
    assert stats.max_peak_bytes < 32 << 20


@pytest.mark.parametrize("offset", [8, 16])
@pytest.mark.parametrize("value", [1 << 40, 2**64 - 1])
def test_huge_counts_are_refused_without_reading_the_file(seeds, offset, value):
    import struct

    head, size = seeds[0]
    bad = bytearray(head)
    struct.pack_into("<Q", bad, offset, value)
    asked: list[int] = []

    def read(s: int, n: int) -> bytes:
        asked.append(n)
        return bytes(bad[s:s + n])

    with pytest.raises(UserError):
        read_remote_header(size, read, "fuzz")
    assert sum(asked) <= len(head)
