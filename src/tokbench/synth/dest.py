"""Where ``synth`` writes, checked before any work: never over what it did not create.

A GGUF goes to ``--out`` (a file), or into ``--out`` when that is an existing directory (named
``<model>-<quant>.gguf``). An MLX model is a directory: ``--out`` must be new or empty. ``--force``
replaces only synth's own kind of output: a GGUF file (magic ``GGUF``), or a directory that holds
nothing but the files synth writes with a config.json it wrote (``architectures`` is
``["TokbenchSynthetic"]``, see :func:`tokbench.synth.mlx.hf_config`). A user's Hugging Face
directory, a text file or a folder of notes is refused with one line, with or without ``--force``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tokbench.safewrite import check_dir_dest, check_file_dest

# synth/mlx.py writes this into config.json's "architectures": the mark of a directory it wrote.
MLX_MARKER = "TokbenchSynthetic"
_MLX_FILES = re.compile(r"(config\.json|tokenizer\.json|tokenizer_config\.json|model\.safetensors"
                        r"|model-\d{5}-of-\d{5}\.safetensors|model\.safetensors\.index\.json)")


def gguf_file_name(model: str, quant: str) -> str:
    """``<model>-<quant>.gguf`` with characters that are awkward in file names replaced."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", f"{model}-{quant}").strip("._") + ".gguf"


def _not_gguf(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None if magic == b"GGUF" else "is not a GGUF file"


def _not_synth_dir(path: Path) -> str | None:
    try:
        cfg = json.loads((path / "config.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        cfg = None
    if not isinstance(cfg, dict) or cfg.get("architectures") != [MLX_MARKER]:
        return "holds files tokbench synth did not write (no config.json of its own)"
    foreign = sorted(p.name for p in path.iterdir() if not (p.is_file() and _MLX_FILES.fullmatch(p.name)))
    if foreign:
        return f"holds files tokbench synth did not write ({', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''})"
    return None


def resolve_dest(out: str | Path, fmt: str, model: str, quant: str, force: bool = False) -> Path:
    """The path synth will write for ``--out`` (see module docstring); UserError (one line) when refused."""
    p = Path(out).expanduser()
    if fmt == "gguf":
        if str(out) != "" and p.is_dir():
            p = p / gguf_file_name(model, quant)
        return check_file_dest(p, force, replaceable=_not_gguf)
    return check_dir_dest(p, force, replaceable=_not_synth_dir)
