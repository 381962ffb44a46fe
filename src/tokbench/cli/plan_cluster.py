"""``tokbench plan MODEL --hardware "2x ID"`` (or ``ID+ID``): one model over several nodes.

Routes to :func:`tokbench.plan.cluster.plan_cluster` once per (quant, cluster, split, link), so a list
of links (``--link tb5-rdma,10gbe``) answers "which link makes it worthwhile" with one row per link.
Only light imports at module level (``tokbench plan`` must not import engines, numpy or rich).
"""

from __future__ import annotations

import re

from tokbench.errors import UserError

_COUNT = re.compile(r"\d+\s*[x*]")  # the start of "2x ID": what plan.cluster.parse_nodes reads as N nodes


def cluster_nodes(hardware: str | None) -> list | None:
    """The clusters ``--hardware`` names (a tuple of Hardware each), or None when it names single machines.

    ``2x ID[:GB]`` and ``ID[:GB]+ID[:GB]`` are clusters; comma-separated items are planned one by one, and
    a list mixing clusters with single machines is refused (their tables differ)."""
    if not hardware:
        return None
    items = [h.strip() for h in hardware.split(",") if h.strip()]
    # A cheap look first: the cluster module is not imported for single machines (plan's cold start).
    if not any("+" in h or _COUNT.match(h) for h in items):
        return None
    from tokbench.plan.cluster import parse_nodes

    nodes = [parse_nodes(h) for h in items]
    if all(n is None for n in nodes):
        return None
    if any(n is None for n in nodes):
        single = [h for h, n in zip(items, nodes) if n is None]
        raise UserError(f"--hardware mixes clusters with single machines ({', '.join(single)}): plan them separately "
                        f"(a cluster is 2x ID or ID+ID)")
    return nodes


def parse_splits(text: str | None) -> list[str]:
    """``--split`` values (comma-separated; default pipeline); unknown names exit 2 with close matches."""
    from tokbench.errors import unknown
    from tokbench.plan.cluster import SPLITS

    names = [s.strip().lower() for s in (text or "pipeline").split(",") if s.strip()]
    for s in names:
        if s not in SPLITS:
            raise unknown("split", s, SPLITS)
    return list(dict.fromkeys(names)) or ["pipeline"]


def parse_links(text: str | None, nodes) -> list:
    """``--link`` values as catalog Links (comma-separated); default: the link such nodes most likely use."""
    from tokbench.plan.cluster import default_link, get_link

    names = [s.strip() for s in text.split(",") if s.strip()] if text else [default_link(nodes)]
    return [get_link(n) for n in dict.fromkeys(names)]


def refuse_cluster_flags(args) -> None:
    """``--link``/``--split`` only mean something for a cluster."""
    if args.link is not None or args.split is not None:
        raise UserError("--link and --split plan a cluster: give --hardware as 2x ID[:GB] or ID[:GB]+ID[:GB]")


def _refuse_unsupported(args) -> None:
    flags = {"--with": args.with_, "--min-tps": args.min_tps is not None}
    given = [f for f, v in flags.items() if v]
    if given:
        raise UserError(f"{', '.join(given)} plan one machine; plan the cluster without {given[0]}, or plan the "
                        f"nodes one by one")


def run_cluster(args, clusters, quants, kv_type, memory: dict | None = None) -> int:
    """Plan MODEL on each cluster x split x link; print tables or ``{"rows": [...]}``. ``memory``: the
    ``--gpu-limit-gb`` / ``--gpu-fraction`` / ``--os-reserve-gb`` values, applied to every node."""
    from tokbench.cli.plan_args import check_combination, default_quants, file_quant, resolve_context, resolve_engine
    from tokbench.cli.plan_source import resolve
    from tokbench.plan.cluster import Topology, plan_cluster

    _refuse_unsupported(args)
    if args.model is None:
        raise UserError("give a MODEL to plan on a cluster (--min-tps ranks options for one machine)")
    splits = parse_splits(args.split)
    labels = [q.strip() for q in args.quant.split(",") if q.strip()] if args.quant else None

    def own_or_default(spec) -> list[str]:
        from tokbench.quant.presets import parse_quant

        if quants or labels:
            return quants or [parse_quant(q) for q in labels]
        own = file_quant(spec)
        return [own] if own else default_quants(resolve_engine(args.engine, None))

    targets = resolve(args.model, labels, own_or_default)
    engine = resolve_engine(args.engine, [q for tg in targets for q in tg.quants])
    rows = []
    for tg in targets:
        check_combination(engine, [h for nodes in clusters for h in nodes], tg.quants)
        context, depth, notes = resolve_context(args.context, args.depth, tg.spec, args.extrapolate)
        for q in tg.quants:
            for nodes in clusters:
                for split in splits:
                    for link in parse_links(args.link, nodes):
                        plan = plan_cluster(tg.spec, q, Topology(tuple(nodes), link, split), engine.name, context,
                                            args.concurrency, kv_type, depth=depth, **(memory or {}))
                        row = plan.to_dict()
                        row.update(hardware=_cluster_label(nodes), link=link.id, link_name=link.name,
                                   depth=depth or context)
                        row["notes"] = notes + row["notes"]
                        rows.append(row)
    if args.json:
        from tokbench.cli.output import print_json

        print_json({"rows": rows})
        return 0
    from tokbench.cli import plan_render

    for tg in targets:
        plan_render.render_cluster(tg.spec, [r for r in rows if r["model"] == tg.spec.name])
    return 0


def _cluster_label(nodes) -> str:
    """``2x m3-ultra-80c:256`` or ``m3-ultra-80c:512+m3-ultra-80c:256`` (the spelling ``--hardware`` takes)."""
    ids = [h.label for h in nodes]
    return f"{len(ids)}x {ids[0]}" if len(set(ids)) == 1 else "+".join(ids)
