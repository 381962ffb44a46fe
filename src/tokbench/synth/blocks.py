"""Random tensor payloads in GGML's block formats, with sane scales, produced at disk speed.

Speed does not depend on weight values, but engines must not see NaN/inf or all-zero scales
(llama.cpp can validate rows, and a zero or infinite scale turns every activation into NaN).
So each block gets random quant bits and a finite, non-zero scale in the range that makes a weight's
magnitude about 0.02 (like an initialised network).

Block layouts (byte offsets of the scale fields) come from the block structs in llama.cpp's
``ggml/src/ggml-common.h`` (``block_q4_0``, ``block_q4_K``, ``block_iq1_m`` ...). Sizes agree with
gguf-py's ``GGML_QUANT_SIZES``; tests check both tables against each other.

To reach disk speed without using much memory, each (type, role) gets one *pool* of a few MB of
random blocks, generated once per seed; a tensor's bytes are the pool repeated from an offset
derived from the seed and the tensor name, so files are deterministic and tensors differ.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

# Typical weight magnitude we aim for (std of a freshly initialised transformer weight).
TARGET = 0.02
POOL_BYTES = 4 << 20  # per (type, role) pool: a few MB keeps RAM low and writes large


@dataclass(frozen=True)
class Layout:
    """A block type: ``block`` weights in ``size`` bytes; fp16 scale fields and their magnitude.

    ``d_offsets``: byte offsets of fp16 super-block scales ``d``; ``m_offsets``: of fp16 mins
    (``m``/``dmin``, whose sign and size follow the dequantisation formula). ``unit`` is how large a
    weight is per unit of ``d`` on average (quant range times block-scale range), so that
    ``d = TARGET / unit`` gives weights of about TARGET.
    """

    block: int
    size: int
    d_offsets: tuple[int, ...] = ()
    m_offsets: tuple[int, ...] = ()
    unit: float = 1.0
    m_factor: float = 0.0  # m = m_factor * d


# Offsets from the struct field order in ggml-common.h (ggml_half = 2 bytes, QK_K = 256).
LAYOUTS: dict[str, Layout] = {
    "F32": Layout(1, 4),
    "F16": Layout(1, 2),
    "BF16": Layout(1, 2),
    "Q4_0": Layout(32, 18, (0,), unit=4),  # d*(q-8)
    "Q4_1": Layout(32, 20, (0,), (2,), unit=8, m_factor=-8),  # d*q + m
    "Q5_0": Layout(32, 22, (0,), unit=8),  # d*(q-16); qh[4] then qs[16]
    "Q5_1": Layout(32, 24, (0,), (2,), unit=16, m_factor=-16),
    "Q8_0": Layout(32, 34, (0,), unit=64),  # d*int8
    "Q1_0": Layout(128, 18, (0,), unit=1),  # d*(+-1)
    "Q2_K": Layout(256, 84, (80,), (82,), unit=12, m_factor=1),  # scales[16] qs[64] d dmin
    "Q3_K": Layout(256, 110, (108,), unit=32),  # hmask[32] qs[64] scales[12] d
    "Q4_K": Layout(256, 144, (0,), (2,), unit=240, m_factor=7.5),  # d dmin scales[12] qs[128]
    "Q5_K": Layout(256, 176, (0,), (2,), unit=480, m_factor=15),  # d dmin scales[12] qh[32] qs[128]
    "Q6_K": Layout(256, 210, (208,), unit=1024),  # ql[128] qh[64] scales[16] d
    "IQ2_XXS": Layout(256, 66, (0,), unit=8),
    "IQ2_XS": Layout(256, 74, (0,), unit=8),
    "IQ2_S": Layout(256, 82, (0,), unit=8),
    "IQ3_XXS": Layout(256, 98, (0,), unit=16),
    "IQ3_S": Layout(256, 110, (0,), unit=16),
    "IQ1_S": Layout(256, 50, (0,), unit=4),
    "IQ1_M": Layout(256, 56, unit=4),  # fp16 scale split over the top nibbles of scales[8]
    "IQ4_NL": Layout(32, 18, (0,), unit=64),  # d*kvalues_iq4nl (|v| <= 127)
    "IQ4_XS": Layout(256, 136, (0,), unit=1024),  # d*(ls-32)*kvalues
    "TQ1_0": Layout(256, 54, (52,), unit=1),  # qs[48] qh[4] d
    "TQ2_0": Layout(256, 66, (64,), unit=1),  # qs[64] d
    "MXFP4": Layout(32, 17),  # e (E8M0) qs[16]
    "NVFP4": Layout(64, 36),  # d[4] (UE4M3) qs[32]
}

# Smallest fp16 scale we emit: stay in normal fp16 range (subnormals are slow on some backends).
_MIN_D = 1e-4


def supported_types() -> list[str]:
    """GGML type names this module can generate."""
    return list(LAYOUTS)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def _put_f16(blocks: np.ndarray, offset: int, values: np.ndarray) -> None:
    blocks[:, offset : offset + 2] = values.astype("<f2").view(np.uint8).reshape(-1, 2)


def _elementwise(type_name: str, n: int, rng: np.random.Generator, norm: bool) -> np.ndarray:
    """F32/F16/BF16 values: ~N(0, TARGET), or ~1 for norm weights (RMSNorm gains)."""
    x = rng.normal(0.0, TARGET, n).astype(np.float32)
    if norm:
        x += 1.0
    if type_name == "F32":
        return x.view(np.uint8)
    if type_name == "F16":
        return x.astype("<f2").view(np.uint8)
    # BF16 is the top half of an fp32 (round-to-nearest-even is irrelevant for random values).
    return (x.view(np.uint32) >> 16).astype("<u2").view(np.uint8)


def make_blocks(type_name: str, n_blocks: int, rng: np.random.Generator, norm: bool = False) -> np.ndarray:
    """``n_blocks`` random blocks of ``type_name`` as a (n_blocks, size) uint8 array."""
    lay = LAYOUTS[type_name]
    if lay.block == 1:
        return _elementwise(type_name, n_blocks, rng, norm).reshape(n_blocks, lay.size)
    blocks = rng.integers(0, 256, size=(n_blocks, lay.size), dtype=np.uint8)
    d = np.maximum(_log_uniform(rng, 0.5, 2.0, n_blocks) * TARGET / lay.unit, _MIN_D)
    for off in lay.d_offsets:
        _put_f16(blocks, off, d)
    for off in lay.m_offsets:
        _put_f16(blocks, off, d * lay.m_factor)
    if type_name == "MXFP4":
        # E8M0 exponent: scale 2^(e-127), halved by ggml (e8m0_to_fp32_half); fp4 values reach 6.
        blocks[:, 0] = rng.integers(118, 123, n_blocks, dtype=np.uint8)
    elif type_name == "NVFP4":
        # UE4M3 per 16 weights: exponent field 1..6 (bias 7), never 0x7F (NaN) and never 0.
        blocks[:, 0:4] = rng.integers(0x08, 0x38, (n_blocks, 4), dtype=np.uint8)
    elif type_name == "IQ1_M":
        _put_iq1m_scale(blocks, d)
    return blocks


def _put_iq1m_scale(blocks: np.ndarray, d: np.ndarray) -> None:
    """IQ1_M keeps its fp16 scale in the top 4 bits of each of the 4 uint16 ``scales`` words.

    dequantize_row_iq1_m: scale.u16 = (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00)
    | (sc[3] & 0xf000), with ``scales`` at byte offset 48 (after qs[32] and qh[16]).
    """
    bits = d.astype("<f2").view(np.uint16)
    words = blocks[:, 48:56].copy().view("<u2")  # (n, 4)
    for k in range(4):
        nibble = (bits >> (4 * k)) & 0xF
        words[:, k] = (words[:, k] & 0x0FFF) | (nibble << 12).astype(np.uint16)
    blocks[:, 48:56] = words.view(np.uint8)


def is_norm_tensor(name: str) -> bool:
    """True for normalisation gains, whose values should sit near 1 rather than near 0."""
    return "norm" in name and name.endswith(".weight")


class BlockSource:
    """Deterministic random bytes for tensors, from one pool per (type, role) and seed."""

    def __init__(self, seed: int = 0, pool_bytes: int = POOL_BYTES) -> None:
        self.seed = int(seed)
        self.pool_bytes = pool_bytes
        self._pools: dict[tuple[str, bool], memoryview] = {}

    def pool(self, type_name: str, norm: bool = False) -> memoryview:
        """The pool of whole blocks for ``type_name`` (created on first use)."""
        key = (type_name, norm)
        if key not in self._pools:
            lay = LAYOUTS[type_name]
            n_blocks = max(1, self.pool_bytes // lay.size)
            rng = np.random.default_rng([self.seed, zlib.crc32(type_name.encode()), int(norm)])
            self._pools[key] = memoryview(make_blocks(type_name, n_blocks, rng, norm).tobytes())
        return self._pools[key]

    def chunks(self, name: str, type_name: str, nbytes: int) -> Iterator[memoryview]:
        """Slices of the pool that together make the ``nbytes`` of tensor ``name`` (whole blocks)."""
        lay = LAYOUTS[type_name]
        if nbytes % lay.size:
            raise ValueError(f"{name}: {nbytes} bytes is not a whole number of {type_name} blocks")
        yield from cycle(self.pool(type_name, is_norm_tensor(name)), lay.size, nbytes, self.seed, name)


def cycle(pool: memoryview, unit: int, nbytes: int, seed: int, name: str) -> Iterator[memoryview]:
    """``nbytes`` taken from ``pool`` round and round, starting at a ``unit``-aligned offset that
    depends on ``seed`` and ``name`` (so tensors differ but files are reproducible)."""
    n_units = len(pool) // unit
    pos = (zlib.crc32(name.encode()) ^ seed) % n_units * unit
    left = nbytes
    while left:
        take = min(left, len(pool) - pos)
        yield pool[pos : pos + take]
        left -= take
        pos = 0
