"""What a stored run measured: its identity (model, quant, hardware, engine and version, topology).

Runs stored by this version of tokbench (measured or imported) carry it under
``config["identity"]`` (tokbench.bench.identity.RunIdentity); that is read as stored. Older runs
wrote it under a few possible keys; for them the first key present wins, config before environment.
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
    """The run identity of a RunInfo as a dict: ``model`` (= ``model_id``), ``quant``, ``engine``
    (the planner's), ``hardware_id`` and, for runs that stored one, every RunIdentity field."""
    cfg, env = info.config or {}, info.environment or {}
    stored = cfg.get("identity")
    if isinstance(stored, dict):
        return {**stored, "model": stored.get("model_id")}
    return {
        "model": _first((cfg, env), MODEL_KEYS),
        "quant": _first((cfg, env), QUANT_KEYS),
        "engine": _legacy_engine(_first((cfg, env), ENGINE_KEYS)),
        "hardware_id": _first((env, cfg), HARDWARE_KEYS) or _argv_hardware(cfg.get("argv")),
    }


def run_provenance(config: dict | None, run_id: str) -> dict[str, str]:
    """{"role", "label", "source"} of a stored run's figures: ``imported`` with the tool and file
    named for runs read from another tool's file (tokbench.store.importers), ``run`` (measured by
    tokbench) otherwise."""
    src = (config or {}).get("source")
    if isinstance(src, dict) and src.get("format"):
        tool = (config or {}).get("tool") or src["format"]
        return {"role": "imported", "label": f"imported ({tool})", "source": f"{src.get('file')} (run {run_id})"}
    return {"role": "run", "label": "measured (tokbench)", "source": f"run {run_id}"}


def display(ident: dict[str, Any], hardware: dict | None = None) -> dict[str, str]:
    """Model, quant, engine and hardware of an identity as tables show them: short names (no path,
    content hash or quant tag in the model), ``labels.UNKNOWN`` for what the run did not record."""
    from tokbench.report.labels import UNKNOWN, short_model, strip_quant

    quant = ident.get("quant")
    model = ident.get("model_label") or ident.get("model")
    model = strip_quant(short_model(model), quant) if model else UNKNOWN
    # A catalogued machine by its label; an uncatalogued host by what its probe said (its CPU or GPU),
    # which reads better in a report opened elsewhere than "host".
    if ident.get("hardware_id"):
        hw = (hardware or {}).get("label") or ident["hardware_id"]
    else:
        hw = ident.get("hardware_label") or (hardware or {}).get("label")
    topo = topology_label(ident.get("topology"))  # over several devices or machines: say how (issue 11)
    return {"model": model, "quant": str(quant) if quant else UNKNOWN,
            "engine": str(ident.get("engine") or ident.get("bench_engine") or UNKNOWN),
            "hardware": (str(hw) if hw else UNKNOWN) + (f" [{topo}]" if topo else "")}


def roles(config: dict | None) -> list[str]:
    """An agent run's roles in words (``main: MODEL on ENGINE``, ``sub: ...``) from its stored job; []
    for other runs."""
    from tokbench.report.labels import short_model

    cfg = config or {}
    job, index = cfg.get("job"), cfg.get("run_index") or 0
    runs = (job or {}).get("runs") or []
    if not isinstance(job, dict) or job.get("workload") != "agents" or index >= len(runs):
        return []
    spec = runs[index]

    def side(target: dict | None) -> str:
        target = target or {}
        model = (target.get("model") or {}).get("label") or target.get("model_name") or target.get("plan")
        where = " (an endpoint)" if target.get("endpoint") else ""  # the URL itself stays out of reports
        return f"{short_model(model) if model else 'the server model'} on {target.get('engine', 'its engine')}{where}"

    agents = spec.get("agents") or {}
    subs = agents.get("subagents")
    out = [f"main agent: {side(spec.get('target'))}"]
    out.append(f"sub-agents{f' (up to {subs})' if subs else ''}: "
               + (side(spec.get("sub")) if spec.get("sub") else "same server as the main agent"))
    return out


def topology_label(topo) -> str:
    """A stored topology as one line ("" for one machine as it comes)."""
    if not isinstance(topo, dict):
        return ""
    from tokbench.identity import Topology

    return Topology(**{k: v for k, v in topo.items() if k in Topology.__dataclass_fields__}).label


def _legacy_engine(name) -> str | None:
    """An older run's engine as the one engine table names it (aliases resolved; None if unknown)."""
    if not name:
        return None
    from tokbench.catalog.engines import get_engine
    from tokbench.errors import UserError

    try:
        return get_engine(str(name)).name
    except UserError:
        return str(name)


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


def hardware_of(ident: dict[str, Any], info=None):
    """Catalog Hardware for a run's hardware id; with ``info``, else the hardware the planner used
    for the run (an uncatalogued host, measured, stored with the run); None when unknown."""
    from tokbench.catalog.hardware import get_hardware
    from tokbench.errors import UserError

    hw = ident.get("hardware_id")
    # "host" in a stored run is the machine that ran it; get_hardware("host") would probe this one.
    if hw and str(hw).partition(":")[0].strip().lower() != "host":
        try:
            return get_hardware(str(hw))
        except UserError:
            return None
    stored = ((info.environment or {}).get("planner_hardware") if info is not None else None)
    if isinstance(stored, dict):
        from dataclasses import fields

        from tokbench.catalog.hardware import Hardware

        # Runs stored by an older tokbench lack newer fields (they have defaults); unknown keys are dropped.
        known = {f.name for f in fields(Hardware)}
        kept = {k: v for k, v in stored.items() if k in known}
        try:
            return Hardware(**{**kept, "memory_options_gb": tuple(stored.get("memory_options_gb") or ())})
        except TypeError:
            return None
    return None
