"""Turn what a user typed for MODEL into a ModelSpec: catalog id, GGUF file, config.json or model dir
(an MLX or Hugging Face directory with *.safetensors goes through spec/mlx_dir.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tokbench.errors import UserError, unknown
from tokbench.modelspec.model import ModelSpec


def _from_catalog(model: str) -> ModelSpec:
    from tokbench.catalog.models import catalog
    from tokbench.modelspec.hf_config import spec_from_config

    entry = catalog()[model]
    return spec_from_config(entry["config"], name=model, source=entry["source"])


def read_json(path: Path) -> dict:
    """Parse a JSON file; UserError (one line) when unreadable or malformed."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable config.json ({exc.__class__.__name__}: {exc})") from None


def load_spec(model: str) -> ModelSpec:
    """A ModelSpec for ``model`` (see module docstring); UserError with close matches otherwise."""
    from tokbench.catalog.models import catalog
    from tokbench.modelspec.hf_config import spec_from_config

    if model in catalog():
        return _from_catalog(model)
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        from tokbench.modelspec.gguf_header import spec_from_gguf

        return spec_from_gguf(path)
    if path.is_file() and path.name.endswith(".json"):
        return spec_from_config(read_json(path), name=path.parent.name or path.stem, source=str(path))
    if path.is_dir():
        cfg = path / "config.json"
        if cfg.is_file():
            if any(path.glob("*.safetensors")):
                # MLX and HF safetensors dirs: quantization from config.json, exact bytes from headers.
                from tokbench.modelspec.mlx_dir import spec_from_mlx_dir

                return spec_from_mlx_dir(path)
            return spec_from_config(read_json(cfg), name=path.name, source=str(cfg))
        ggufs = sorted(path.glob("*.gguf"))
        if ggufs:
            from tokbench.modelspec.gguf_header import spec_from_gguf

            return spec_from_gguf(ggufs[0])
        raise UserError(f"{path}: directory has no config.json and no .gguf file")
    if path.exists():
        raise UserError(f"{path}: not a GGUF file, config.json or model directory")
    if "/" in model or model.endswith((".gguf", ".json")):
        raise UserError(f"{model}: no such file or directory")
    raise unknown("model", model, catalog())
