"""``tokbench hw``: the hardware catalog (``list``) and this machine (``probe``)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    """Add ``hw list`` and ``hw probe``."""
    p = sub.add_parser("hw", help="hardware catalog and host probe",
                       description="List catalog hardware, or describe this machine and measure its memory bandwidth.")
    hs = p.add_subparsers(dest="hw_command", metavar="{list,probe}")
    lp = hs.add_parser("list", help="catalog hardware ids, bandwidth, memory options")
    lp.add_argument("--json", action="store_true", help='print {"hardware": [...]}')
    lp.set_defaults(func=run_list)
    pp = hs.add_parser("probe", help="CPU, RAM, Apple chip, NVIDIA GPU and measured bandwidth of this machine")
    pp.add_argument("--json", action="store_true", help="print the probe as JSON")
    pp.add_argument("--no-measure", action="store_true", help="skip the ~1 s bandwidth measurement")
    pp.set_defaults(func=run_probe)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def run_list(args: argparse.Namespace) -> int:
    """Print the hardware catalog."""
    from dataclasses import asdict

    from tokbench.catalog.hardware import catalog

    rows = list(catalog().values())
    if args.json:
        from tokbench.cli.output import print_json

        print_json({"hardware": [asdict(h) for h in rows]})
        return 0
    from rich.table import Table

    from tokbench.cli.output import console

    t = Table(title="Hardware catalog (ID:GB picks a memory size)")
    for col in ("ID", "Name", "Bandwidth GB/s", "Memory GB", "FP16 TFLOPS"):
        # An id is what users copy into --hardware: never wrapped or cut, even in a narrow terminal.
        t.add_column(col, justify="right" if col not in ("ID", "Name") else "left", no_wrap=col == "ID",
                     overflow="fold" if col != "ID" else "ignore")
    for h in rows:
        t.add_row(h.id, h.name, f"{h.bandwidth_gbs:g}", ", ".join(f"{m:g}" for m in h.memory_options_gb),
                  f"{h.fp16_tflops:g}" if h.fp16_tflops else "")
    console().print(t)
    return 0


def run_probe(args: argparse.Namespace) -> int:
    """Describe this machine."""
    from tokbench.env import probe_host

    info = probe_host(measure=not args.no_measure)
    if args.json:
        from tokbench.cli.output import print_json

        print_json(info)
        return 0
    hw = info["hardware"]
    lines = [f"CPU: {info.get('cpu')} ({info.get('cpu_count')} logical cores, {info['os']} {info['machine']})",
             f"RAM: {(info.get('memory_bytes') or 0) / 2**30:.1f} GiB"]
    if info.get("apple"):
        a = info["apple"]
        lines.append(f"Apple chip: {a['chip']}, {a.get('gpu_cores')} GPU cores, {a['p_cores']}P+{a['e_cores']}E CPU; "
                     f"GPU wired limit: {a['wired_limit_mb'] or 'default'} MB")
    for g in info.get("nvidia") or []:
        lines.append(f"NVIDIA GPU: {g['name']}, {g['memory_mib'] / 1024:.0f} GiB, driver {g['driver']} "
                     f"-> {g['catalog_id'] or 'not in catalog'}")
    if info.get("bandwidth"):
        b = info["bandwidth"]
        lines.append(f"Memory bandwidth (measured): {b['bandwidth_gbs']:.1f} GB/s ({b['method']}, {b['threads']} threads)")
    if info.get("cache"):
        c = info["cache"]
        lines.append(f"Last-level cache this process gets (measured): {c['cache_mib']} MiB of {c['reported_mib']:g} reported")
    if info.get("kernels"):
        from tokbench.env.kernels import KernelProbe

        lines.append(KernelProbe(**info["kernels"]).describe())
    bw = f"{hw['bandwidth_gbs']:g} GB/s" if hw.get("bandwidth_gbs") else "bandwidth not measured (--no-measure)"
    lines.append(f"Planner hardware: {hw['label']} ({'catalog' if hw['in_catalog'] else 'not in catalog: kind cpu'}, {bw})")
    print("\n".join(lines))
    return 0
