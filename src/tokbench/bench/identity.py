"""The identity of a measured run, from its target and the started engine (tokbench.identity
holds the stored value's types)."""

from __future__ import annotations

from pathlib import Path

from tokbench.identity import RunIdentity, Topology, file_quant, host_topology


def identity(target, info, model_path: Path | None, hardware_id: str | None, host: dict | None,
             hardware_label: str | None = None) -> RunIdentity:
    """The identity of a run of ``target`` on a started engine (``info``: its EngineInfo)."""
    from tokbench.catalog.engines import planner_engine

    ref = target.model
    flavor = info.name if target.endpoint else None  # the server it detected
    if target.endpoint is None and "(" in info.name:  # a launched server: "llama.cpp-server (llama-cpp-python)"
        flavor = info.name.split("(", 1)[1].rstrip(")")
    engine = planner_engine(target.engine, flavor) or target.engine
    if ref is not None:
        model_id = ref.spec or (str(model_path) if model_path is not None else ref.label)
        quant = ref.quant or file_quant(model_path)
    else:  # an endpoint: what it calls its model (llama-cpp-python and llama-server name the file)
        model_id = info.model or target.model_name
        local = Path(model_id) if model_id and Path(model_id).is_file() else None
        quant = file_quant(local)
    if target.plan:  # what the user told the planner the endpoint serves
        model_id, _, q = target.plan.rpartition(":")
        quant = quant or q or None
    from tokbench.bench.layout import topology_of

    topo = topology_of(target.layout, host_topology(host) if target.endpoint is None else Topology(gpus=None))
    return RunIdentity(model_id, quant, hardware_id, engine, info.version, target.engine, flavor,
                       ref.label if ref is not None else (info.model or target.model_name), hardware_label, topo)
