"""Quantization preset names users type (Q4_K_M, IQ4_XS, mlx-4bit-g32 ...) and what they mean.

llama.cpp presets carry their ``LLAMA_FTYPE_*`` id (include/llama.h of the vendored llama.cpp),
the default tensor type of the mixture (``llama_ftype_get_default_type`` in src/llama-quant.cpp)
and whether llama.cpp refuses them without an importance matrix (``tensor_requires_imatrix``: the
mixture's bulk type is IQ1_*/IQ2_*/IQ3_XXS, or Q2_K inside Q2_K_S). The per-tensor choice lives in
:mod:`tokbench.quant.llamacpp`.

MLX modes follow ``mlx.core.quantize``: affine with 2-8 bits and group size 32/64/128 (default 64:
``mlx-4bit`` is ``mlx-4bit-g64``), ``mxfp4``/``mxfp8`` (group 32, E8M0 scale) and ``nvfp4`` (group 16,
E4M3 scale). ``mlx-bf16``/``mlx-fp16`` are unquantized MLX weights.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokbench.errors import unknown

# Names that mean "whatever the GGUF file already holds" (the planner's native format).
NATIVE = "native"


@dataclass(frozen=True)
class Preset:
    """One quantization preset. llama.cpp fields are None for MLX modes and vice versa."""

    name: str  # canonical name
    engine: str  # "llama.cpp" or "mlx"
    ftype: int | None = None  # LLAMA_FTYPE_* id
    default_type: str | None = None  # GGML type most tensors get
    needs_imatrix: bool = False  # llama.cpp refuses it without an importance matrix
    mlx_mode: str | None = None  # "affine", "mxfp4", "mxfp8", "nvfp4"; None = unquantized MLX
    bits: int | None = None  # MLX bits per weight (packed)
    group_size: int | None = None  # MLX weights per scale
    mlx_dtype: str | None = None  # MLX float dtype of unquantized weights ("bfloat16"/"float16")

    @property
    def is_mlx(self) -> bool:
        """True for MLX modes."""
        return self.engine == "mlx"


# (name, LLAMA_FTYPE id, default GGML type, needs imatrix) from include/llama.h and
# llama_ftype_get_default_type / tensor_requires_imatrix in src/llama-quant.cpp (llama.cpp as vendored
# by llama-cpp-python 0.3.36). NVFP4 (ftype 39) is not listed: that quantizer has no default type for it.
_LLAMACPP = [
    ("F32", 0, "F32", False),
    ("F16", 1, "F16", False),
    ("Q4_0", 2, "Q4_0", False),
    ("Q4_1", 3, "Q4_1", False),
    ("Q8_0", 7, "Q8_0", False),
    ("Q5_0", 8, "Q5_0", False),
    ("Q5_1", 9, "Q5_1", False),
    ("Q2_K", 10, "Q2_K", False),
    ("Q3_K_S", 11, "Q3_K", False),
    ("Q3_K_M", 12, "Q3_K", False),
    ("Q3_K_L", 13, "Q3_K", False),
    ("Q4_K_S", 14, "Q4_K", False),
    ("Q4_K_M", 15, "Q4_K", False),
    ("Q5_K_S", 16, "Q5_K", False),
    ("Q5_K_M", 17, "Q5_K", False),
    ("Q6_K", 18, "Q6_K", False),
    ("IQ2_XXS", 19, "IQ2_XXS", True),
    ("IQ2_XS", 20, "IQ2_XS", True),
    ("Q2_K_S", 21, "Q2_K", True),
    ("IQ3_XS", 22, "IQ3_S", True),  # attn_k and middle ffn_gate/ffn_up get IQ3_XXS
    ("IQ3_XXS", 23, "IQ3_XXS", True),
    ("IQ1_S", 24, "IQ1_S", True),
    ("IQ4_NL", 25, "IQ4_NL", False),
    ("IQ3_S", 26, "IQ3_S", False),
    ("IQ3_M", 27, "IQ3_S", False),
    ("IQ2_S", 28, "IQ2_XS", True),
    ("IQ2_M", 29, "IQ2_S", True),
    ("IQ4_XS", 30, "IQ4_XS", False),
    ("IQ1_M", 31, "IQ1_M", True),
    ("BF16", 32, "BF16", False),
    ("TQ1_0", 36, "TQ1_0", False),
    ("TQ2_0", 37, "TQ2_0", False),
    ("MXFP4_MOE", 38, "MXFP4", False),
    ("Q1_0", 40, "Q1_0", False),
    ("Q2_0", 41, "Q2_0", False),
]

# Aliases llama.cpp's quantize tool accepts (tools/quantize/quantize.cpp) plus common spellings.
_ALIASES = {
    "Q3_K": "Q3_K_M",
    "Q4_K": "Q4_K_M",
    "Q5_K": "Q5_K_M",
    "FP16": "F16",
    "FP32": "F32",
    "MXFP4": "MXFP4_MOE",
}

_MLX_AFFINE_BITS = (2, 3, 4, 5, 6, 8)
_MLX_GROUPS = (32, 64, 128)
_MLX_DEFAULT_GROUP = 64


def _build() -> tuple[dict[str, Preset], dict[str, str]]:
    presets: dict[str, Preset] = {}
    aliases = {k.lower(): v for k, v in _ALIASES.items()}
    for name, ftype, default_type, imat in _LLAMACPP:
        presets[name] = Preset(name, "llama.cpp", ftype=ftype, default_type=default_type, needs_imatrix=imat)
    for bits in _MLX_AFFINE_BITS:
        for g in _MLX_GROUPS:
            name = f"mlx-{bits}bit" if g == _MLX_DEFAULT_GROUP else f"mlx-{bits}bit-g{g}"
            presets[name] = Preset(name, "mlx", mlx_mode="affine", bits=bits, group_size=g)
        aliases[f"mlx-{bits}bit-g{_MLX_DEFAULT_GROUP}"] = f"mlx-{bits}bit"
        aliases[f"mlx-q{bits}"] = f"mlx-{bits}bit"
    for mode, bits, g in (("mxfp4", 4, 32), ("mxfp8", 8, 32), ("nvfp4", 4, 16)):
        presets[f"mlx-{mode}"] = Preset(f"mlx-{mode}", "mlx", mlx_mode=mode, bits=bits, group_size=g)
    for name, dtype in (("mlx-bf16", "bfloat16"), ("mlx-fp16", "float16")):
        presets[name] = Preset(name, "mlx", mlx_dtype=dtype)
    aliases["mlx-f16"] = "mlx-fp16"
    return presets, aliases


PRESETS, _ALIAS_LOWER = _build()
_BY_LOWER = {name.lower(): name for name in PRESETS}


def parse_quant(name: str) -> str:
    """Canonical preset name for ``name`` (case-insensitive: ``q4_k_m`` -> ``Q4_K_M``).

    ``native`` (the GGUF file's own types) is returned as is. Unknown names raise UserError with
    close matches.
    """
    key = name.strip().lower()
    if key == NATIVE:
        return NATIVE
    if key in _BY_LOWER:
        return _BY_LOWER[key]
    if key in _ALIAS_LOWER:
        return _ALIAS_LOWER[key]
    raise unknown("quant", name, list(PRESETS) + [NATIVE])


def get_preset(name: str) -> Preset:
    """The :class:`Preset` for ``name`` (any spelling :func:`parse_quant` accepts, except ``native``)."""
    canonical = parse_quant(name)
    if canonical == NATIVE:
        raise unknown("quant preset", name, PRESETS)
    return PRESETS[canonical]


def llamacpp_presets() -> list[str]:
    """Canonical names of every llama.cpp preset, in LLAMA_FTYPE order."""
    return [p.name for p in PRESETS.values() if not p.is_mlx]


def mlx_presets() -> list[str]:
    """Canonical names of every MLX mode."""
    return [p.name for p in PRESETS.values() if p.is_mlx]


def ftype_name(ftype: int) -> str | None:
    """The preset name of a GGUF ``general.file_type`` value, or None for an unknown id."""
    for p in PRESETS.values():
        if p.ftype == ftype:
            return p.name
    return None
