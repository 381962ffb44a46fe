"""Model specs: :class:`ModelSpec` and the readers that build one from a catalog id or a file."""

from tokbench.modelspec.model import ModelSpec, TensorSpec


def load_spec(model: str) -> ModelSpec:
    """A ModelSpec from a catalog id, GGUF file, config.json, HF model dir or MLX model dir."""
    from tokbench.modelspec.resolve import load_spec as _load

    return _load(model)


__all__ = ["ModelSpec", "TensorSpec", "load_spec"]
