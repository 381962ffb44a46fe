"""GGML tensor types: how many weights a block holds and how many bytes it takes.

The table is package data (``catalog/data/quant_formats.csv``, rows whose type is a GGML type name),
taken from gguf-py's ``GGML_QUANT_SIZES`` and llama.cpp's ``ggml-common.h`` block structs; the
``source`` column names where each row comes from. A tensor's rows are stored as whole blocks, so a
tensor's size is exact arithmetic on its shape: ``rows * (row_length / block) * bytes_per_block``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from functools import lru_cache
from math import prod
from pathlib import Path

from tokbench.errors import unknown

_CSV = Path(__file__).resolve().parent.parent / "catalog" / "data" / "quant_formats.csv"


@dataclass(frozen=True)
class GGMLType:
    """One GGML storage type: ``block`` weights are stored in ``type_size`` bytes."""

    name: str
    block: int
    type_size: int
    source: str

    @property
    def bits_per_weight(self) -> float:
        """Storage cost per weight in bits (scales and minima included)."""
        return self.type_size * 8 / self.block

    @property
    def is_quantized(self) -> bool:
        """True for block-quantized types (ggml_is_quantized): not F32/F16/BF16/F64 or integers."""
        return self.block > 1


@cache
def ggml_types() -> dict[str, GGMLType]:
    """Every GGML type in the package table, by upper-case name (``Q4_K``, ``F16`` ...)."""
    out: dict[str, GGMLType] = {}
    last_source = ""
    with _CSV.open(newline="") as fh:
        for row in csv.DictReader(fh):
            name = row["type"].strip()
            if name.startswith("MLX"):  # MLX modes live in tokbench.quant.mlx
                continue
            # "same" / "same (...)" means: the source of the row above.
            src = row["source"].strip()
            source = last_source if src.startswith("same") else src
            last_source = source
            out[name] = GGMLType(name, int(row["weights_per_block"]), int(row["bytes_per_block"]), source)
    return out


def ggml_type(name: str) -> GGMLType:
    """The :class:`GGMLType` called ``name`` (case-insensitive); UserError with close matches."""
    types = ggml_types()
    hit = types.get(name.upper())
    if hit is None:
        raise unknown("GGML type", name, types)
    return hit


def row_nbytes(type_name: str, row_length: int) -> int:
    """Bytes of one row of ``row_length`` weights (ggml_row_size); ValueError if blocks don't divide it."""
    t = ggml_type(type_name)
    if row_length % t.block:
        raise ValueError(f"row length {row_length} is not a multiple of {t.name}'s block size {t.block}")
    return row_length // t.block * t.type_size


def tensor_nbytes(ggml_type: str, shape: tuple[int, ...] | list[int]) -> int:
    """Bytes of a tensor of ``shape`` (GGUF order, shape[0] = row length) stored as ``ggml_type``.

    Raises ValueError when the row length is not a whole number of blocks: llama.cpp cannot store
    such a tensor in that type (the quantizer picks a fallback type instead, see quant.llamacpp).
    """
    if not shape:
        raise ValueError("tensor shape is empty")
    return _tensor_nbytes(ggml_type, tuple(int(s) for s in shape))


@lru_cache(maxsize=1 << 16)  # a model repeats the same (type, shape) in every layer; plans ask per preset
def _tensor_nbytes(ggml_type: str, shape: tuple[int, ...]) -> int:
    return row_nbytes(ggml_type, shape[0]) * prod(shape[1:])


def fits_blocks(type_name: str, row_length: int) -> bool:
    """True when a row of ``row_length`` weights is a whole number of ``type_name`` blocks."""
    return row_length % ggml_type(type_name).block == 0
