"""What a stored run measured: model, quant, engine and hardware read from its config/environment.

The bench runner writes these under a few possible keys (issue 7: "engine and version, model file
name, size and header hash, quant"); the first key present wins, config before environment.
"""

from __future__ import annotations

from typing import Any

MODEL_KEYS = ("model_id", "model", "model_name", "model_path", "model_file")
QUANT_KEYS = ("quant", "quantization", "model_quant")
ENGINE_KEYS = ("engine", "engine_name")
HARDWARE_KEYS = ("hardware_id", "hardware")


def _first(dicts: tuple[dict, ...], keys: tuple[str, ...]) -> Any:
    for d in dicts:
        for k in keys:
            v = d.get(k)
            if isinstance(v, dict):  # e.g. {"engine": {"name": "llama.cpp", "version": ...}}
                v = v.get("id") or v.get("name")
            if v not in (None, ""):
                return v
    return None


def run_identity(info) -> dict[str, Any]:
    """{"model", "quant", "engine", "hardware_id"} of a RunInfo (None where unknown)."""
    cfg, env = info.config or {}, info.environment or {}
    return {
        "model": _first((cfg, env), MODEL_KEYS),
        "quant": _first((cfg, env), QUANT_KEYS),
        "engine": _first((cfg, env), ENGINE_KEYS),
        "hardware_id": _first((env, cfg), HARDWARE_KEYS) or _argv_hardware(cfg.get("argv")),
    }


def _argv_hardware(argv) -> str | None:
    """The --hardware a bench run was started with (runs stored before the id was kept in config)."""
    if not isinstance(argv, list):
        return None
    for i, a in enumerate(argv):
        if isinstance(a, str) and a.startswith("--hardware"):
            value = a.split("=", 1)[1] if "=" in a else (argv[i + 1] if i + 1 < len(argv) else None)
            if isinstance(value, str) and value.partition(":")[0].strip().lower() == "host":
                return "host"  # the machine that ran it: never probe the one reading the report
            if isinstance(value, str):
                from tokbench.catalog.hardware import get_hardware
                from tokbench.errors import UserError

                try:  # a bare chip id (m3-ultra) resolved to its largest variant when the run was made
                    return get_hardware(value, largest_variant=True).id
                except UserError:
                    return None
    return None


def identity_spec(ident: dict[str, Any], info=None):
    """ModelSpec for a run's model, or None when it cannot be built (unknown name, file gone)."""
    from tokbench.errors import UserError
    from tokbench.report.reference import map_model, model_spec
    from tokbench.modelspec import load_spec
    from tokbench.modelspec.hf_config import spec_from_config

    model = ident.get("model")
    cfg = (info.config or {}).get("spec") if info is not None else None
    try:
        if isinstance(cfg, dict):  # a synthetic model's config.json kept in the run config
            return spec_from_config(cfg, name=str(model or "model"), source="run config")
        if not model:
            return None
        key = map_model(str(model))
        return model_spec(key) if key else load_spec(str(model))
    except (UserError, OSError, ValueError):
        return None


def hardware_of(ident: dict[str, Any]):
    """Catalog Hardware for a run's hardware id, or None when unknown."""
    from tokbench.catalog.hardware import get_hardware
    from tokbench.errors import UserError

    hw = ident.get("hardware_id")
    # "host" in a stored run is the machine that ran it; get_hardware("host") would probe this one.
    if not hw or str(hw).partition(":")[0].strip().lower() == "host":
        return None
    try:
        return get_hardware(str(hw))
    except UserError:
        return None
