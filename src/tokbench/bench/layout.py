"""``tokbench bench``'s layout flags (--rpc, --split-mode, --tensor-split, --topology, --link, --split)
checked once into a :class:`tokbench.bench.job.Layout`, and the run identity's topology made from it.

Vocabularies are the planner's: link ids from the link catalog and splits from
:data:`tokbench.plan.cluster.SPLITS`; a cluster is spelled as ``tokbench plan --hardware`` spells it.
"""

from __future__ import annotations

from tokbench.bench.job import BenchArgs, Layout
from tokbench.errors import UserError, unknown

SPLIT_MODES = ("layer", "row", "tensor")  # llama.cpp -sm values over the GPUs of one machine (none: no flag)
LAUNCHER = "llama.cpp-server"  # the engine that launches RPC topologies and multi-GPU splits


def wants_launcher(a: BenchArgs) -> bool:
    """The flags ask tokbench to launch a llama.cpp topology (so --engine defaults to llama.cpp-server)."""
    return bool(a.rpc or a.split_mode or a.tensor_split)


def build_layout(a: BenchArgs, engine: str | None) -> Layout | None:
    """The layout the flags ask for (None: none given); UserError (one line) for what cannot run."""
    from tokbench.plan.cluster import SPLITS, get_link, parse_nodes

    if not (wants_launcher(a) or a.topology or a.link or a.split):
        return None
    if a.split_mode is not None and a.split_mode not in SPLIT_MODES:
        raise unknown("split mode", a.split_mode, SPLIT_MODES)
    if a.split is not None and a.split not in SPLITS:
        raise unknown("split", a.split, SPLITS)
    link = get_link(a.link).id if a.link else None
    if wants_launcher(a):
        if engine != LAUNCHER:
            raise UserError(f"--rpc, --split-mode and --tensor-split launch llama.cpp's server: use --engine {LAUNCHER} "
                            f"(for a server you run, state its layout with --topology, --link, --split)")
        if a.topology:
            raise UserError("--topology states what a server you run spans; tokbench knows what it launches")
        if a.rpc and a.split_mode and a.split_mode != "layer":
            raise UserError(f"llama.cpp RPC splits by layer; --split-mode {a.split_mode} runs on the GPUs of one machine")
        if a.tensor_split and a.rpc and len(a.tensor_split) > a.rpc + 1:
            raise UserError(f"--tensor-split has {len(a.tensor_split)} parts for {a.rpc} RPC server(s) and this host")
        split = a.split or ("tensor" if a.split_mode in ("row", "tensor") else "pipeline")
        return Layout(rpc=a.rpc or 0, split_mode=a.split_mode, tensor_split=tuple(a.tensor_split),
                      link=link or ("loopback" if a.rpc else None), split=split)
    if not a.endpoint:
        raise UserError("--topology, --link and --split state what a server you run spans: give --endpoint "
                        "(tokbench launches RPC topologies with --rpc N, multi-GPU splits with --split-mode)")
    if not a.topology:
        raise UserError("--link and --split describe a cluster: give --topology too (e.g. '2x m3-ultra-80c:512')")
    nodes = parse_nodes(a.topology)
    if nodes is None:
        raise UserError(f"--topology '{a.topology}' is one machine: a cluster is 2x ID[:GB] or ID[:GB]+ID[:GB]")
    return Layout(nodes=a.topology.strip(), link=link, split=a.split)


def parse_tensor_split(text: str | None) -> tuple[float, ...]:
    """``--tensor-split 3,1`` -> (3.0, 1.0); UserError for anything but positive finite numbers."""
    import math

    if not text:
        return ()
    try:
        vals = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UserError(f"--tensor-split takes proportions separated by commas, e.g. 3,1; got '{text}'") from None
    if len(vals) < 2 or any(not math.isfinite(v) or v < 0 for v in vals) or not sum(vals):
        raise UserError(f"--tensor-split takes two or more non-negative proportions, e.g. 3,1; got '{text}'")
    return vals


def topology_of(layout: Layout | None, host_topo):
    """The identity's Topology for a run with ``layout`` (``host_topo``: this machine's, or an endpoint's)."""
    from dataclasses import replace

    if layout is None:
        return host_topo
    if layout.nodes:  # stated for an endpoint
        from tokbench.plan.cluster import parse_nodes

        n = len(parse_nodes(layout.nodes))
        return replace(host_topo, nodes=n, split=layout.split, link=layout.link, hardware=layout.nodes,
                       detail="stated by --topology")
    parts = []
    if layout.rpc:
        parts.append(f"llama.cpp RPC: {layout.rpc} rpc-server(s) on loopback, the rest in the client")
    if layout.split_mode:
        parts.append(f"-sm {layout.split_mode}")
    if layout.tensor_split:
        parts.append("-ts " + ",".join(f"{x:g}" for x in layout.tensor_split))
    nodes = 1 + layout.rpc  # each rpc-server is a node of the cluster, the client is one too
    return replace(host_topo, nodes=nodes, split=layout.split, link=layout.link, detail="; ".join(parts))
