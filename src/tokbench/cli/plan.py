"""``tokbench plan``: memory, fit and speed of a model on hardware, or what fits a target speed.

Only argparse at import time: the planner, rich and the catalogs load inside :func:`run`.
"""

from __future__ import annotations

import argparse

GiB = 2**30


def register(sub) -> None:
    """Add the ``plan`` command."""
    p = sub.add_parser("plan", help="memory, fit and speed estimates (no model download)",
                       description="Plan a model on hardware: exact weights/KV/state, fit verdict, calibrated tok/s. "
                                   "Without MODEL, --min-tps ranks the catalog's options for --hardware.")
    p.add_argument("model", nargs="?", help="catalog id (tokbench models), Hugging Face repo id OWNER/NAME[:QUANT] "
                                            "(headers only), .gguf file, config.json, HF or MLX model dir")
    p.add_argument("--hardware", "-H", default=None,
                   help="ID[:GB][,ID[:GB]...], e.g. m3-ultra-80c:256,m3-ultra-80c:512; 'host' is this machine "
                        "(tokbench hw probe; any GB). A cluster: '2x m3-ultra-80c:256' or "
                        "'m3-ultra-80c:512+m3-ultra-80c:256' (one model over several GPUs or machines)")
    p.add_argument("--link", default=None,
                   help="cluster interconnect(s), comma-separated for one row each: tb5-rdma, tb5-tcp, 10gbe, 25gbe, "
                        "cx7, nvlink, pcie5 ... (default: what such nodes most likely use)")
    p.add_argument("--split", default=None,
                   help="how a cluster splits the model: pipeline (default), tensor, expert; comma-separated for several")
    p.add_argument("--context", "-c", default=None,
                   help="tokens per sequence: 32768, 8k, 128K (default 4k, or the model's maximum when smaller)")
    p.add_argument("--depth", default=None, help="context depth for decode speed, at most --context (default: --context)")
    p.add_argument("--extrapolate", action="store_true",
                   help="plan a --context past the model's trained maximum (RoPE scaling) instead of refusing it")
    p.add_argument("--quant", "-q", default=None,
                   help="comma-separated presets (default: a GGUF's or MLX directory's own; else "
                        "IQ2_XXS,IQ4_XS,Q4_K_M,Q8_0, or mlx-4bit,mlx-8bit... for MLX); for a GGUF repo, "
                        "the file quants to plan (UD-Q4_K_XL ...)")
    p.add_argument("--engine", "-e", default=None,
                   help="llama.cpp (in process, as llama-bench), llama.cpp-server (behind llama-server; also "
                        "ollama, LM Studio), mlx, mlx-server, vllm, sglang (default: mlx for MLX weights, else llama.cpp)")
    p.add_argument("--concurrency", "-n", type=int, default=1, help="concurrent sequences (default 1)")
    p.add_argument("--prompt-tokens", type=int, default=None, metavar="N",
                   help="with --concurrency > 1: the per-stream figure of a closed-loop sweep of N-token prompts, "
                        "as tokbench bench measures it (others' prefill and slot reuse interleave); "
                        "default: the step rate")
    p.add_argument("--gen-tokens", type=int, default=128, metavar="N",
                   help="tokens each sweep request generates (default 128)")
    p.add_argument("--requests", type=int, default=None, metavar="N", help="sweep requests (default 2 x --concurrency)")
    p.add_argument("--kv-type", default="f16", help="KV cache type: f16, q8_0, q4_0 (default f16)")
    p.add_argument("--min-tps", type=float, default=None, help="rank catalog options reaching this decode tok/s")
    p.add_argument("--with", dest="with_", action="append", default=[], metavar="MODEL:QUANT[:CTX]",
                   help="a companion model sharing the machine (repeatable)")
    p.add_argument("--gpu-limit-gb", type=float, default=None, help="GPU memory limit (Apple: iogpu.wired_limit_mb/1024; a cluster: every node)")
    p.add_argument("--gpu-fraction", type=float, default=None, help="share of memory the GPU may use (Apple default 0.75; a cluster: every node)")
    p.add_argument("--os-reserve-gb", type=float, default=None, help="memory kept for the OS on unified-memory machines (a cluster: every node)")
    p.add_argument("--json", action="store_true", help='print {"rows": [...]}')
    p.add_argument("--list", action="store_true", help="list the model catalog (same as 'tokbench models'; filters below)")
    from tokbench.cli.models import add_filter_args

    add_filter_args(p)
    p.set_defaults(func=run)


def _usable_kwargs(args) -> dict:
    import math

    for name in ("gpu_limit_gb", "gpu_fraction", "os_reserve_gb", "min_tps"):
        v = getattr(args, name)
        # nan passes every comparison and inf is no amount of memory: refuse both (tests/fuzz).
        if v is not None and (not math.isfinite(v) or v < 0 or (name == "gpu_fraction" and v > 1)):
            from tokbench.errors import UserError

            raise UserError(f"--{name.replace('_', '-')} out of range: {v:g}")
    return {"gpu_limit_gb": args.gpu_limit_gb, "gpu_fraction": args.gpu_fraction, "os_reserve_gb": args.os_reserve_gb}


def _parse_common(args):
    from tokbench.catalog.hardware import get_hardware
    from tokbench.errors import UserError
    from tokbench.plan.kv import parse_kv_type

    if args.concurrency < 1:
        raise UserError(f"--concurrency must be at least 1, got {args.concurrency}")
    for name in ("prompt_tokens", "gen_tokens", "requests"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {v}")
    hws = [get_hardware(h) for h in args.hardware.split(",") if h.strip()] if args.hardware else []
    quants = None
    if args.quant and not _is_hub(args.model):  # a Hub repo's --quant names its files (see _run_model)
        from tokbench.quant.presets import parse_quant

        quants = [parse_quant(q) for q in args.quant.split(",") if q.strip()] or None
    return hws, quants, parse_kv_type(args.kv_type)


def _sweep_workload(args) -> dict:
    """The sweep workload keywords of tokbench.plan.estimate (none without --prompt-tokens)."""
    if args.prompt_tokens is None:
        return {}
    return {"prompt_tokens": args.prompt_tokens, "gen_tokens": args.gen_tokens, "requests": args.requests}


def _is_hub(model: str | None) -> bool:
    from tokbench.catalog.models import catalog
    from tokbench.modelspec.hub import is_hub_ref

    return model is not None and model not in catalog() and is_hub_ref(model)


def _companions(args, context, engine, kv_type, hws) -> tuple[list[dict], int]:
    from tokbench.cli.plan_args import check_combination
    from tokbench.plan.fit import companion_bytes, parse_with

    items = [parse_with(w, context) for w in args.with_]
    check_combination(engine, [], [], items)
    kind = hws[0].kind if hws else "apple"
    comps = companion_bytes(items, engine.name, kv_type, kind) if items else []
    return comps, sum(c["total_bytes"] for c in comps)


def run(args: argparse.Namespace) -> int:
    """Plan one model (tables + derivation) or rank options for --min-tps; --list lists the catalog."""
    from tokbench.cli import models
    from tokbench.errors import UserError

    if args.list:
        return models.run(args)
    if models.filters_given(args):
        raise UserError("--family/--arch/--min-params/--max-params/--min-active/--max-active filter 'plan --list'")

    from tokbench.cli.plan_cluster import cluster_nodes, refuse_cluster_flags, run_cluster

    clusters = cluster_nodes(args.hardware)
    if clusters is not None:
        args.hardware = None  # the nodes are parsed; the rest of the common parsing still applies
        _, quants, kv_type = _parse_common(args)
        return run_cluster(args, clusters, quants, kv_type, _usable_kwargs(args))
    refuse_cluster_flags(args)
    hws, quants, kv_type = _parse_common(args)
    usable = _usable_kwargs(args)
    if args.model is None:
        if args.min_tps is None or not hws:
            raise UserError("give a MODEL, or --hardware with --min-tps to rank the catalog's options")
        if args.depth is not None:
            raise UserError("--depth applies to one MODEL's plan; --min-tps ranks options at --context")
        return _run_recommend(args, hws, quants, kv_type, usable)
    return _run_model(args, hws, quants, kv_type, usable)


def _run_model(args, hws, quants, kv_type, usable) -> int:
    from tokbench.cli.plan_args import check_combination, default_quants, file_quant, resolve_context, resolve_engine
    from tokbench.cli.plan_source import resolve
    from tokbench.plan import estimate

    from tokbench.quant.presets import parse_quant

    # A Hub repo's --quant values are file labels (UD-Q4_K_XL ...), kept as typed; else parsed presets.
    labels = [q.strip() for q in args.quant.split(",") if q.strip()] if args.quant else None

    def own_or_default(spec) -> list[str]:
        if quants or labels:  # a Hub safetensors repo planned at the presets asked
            return quants or [parse_quant(q) for q in labels]
        own = file_quant(spec)
        return [own] if own else default_quants(resolve_engine(args.engine, None))

    targets = resolve(args.model, labels, own_or_default)
    engine = resolve_engine(args.engine, [q for tg in targets for q in tg.quants])
    contexts = {}
    for tg in targets:
        check_combination(engine, hws, tg.quants)
        contexts[tg.spec.name] = resolve_context(args.context, args.depth, tg.spec, args.extrapolate)
    context, depth, notes = contexts[targets[0].spec.name]
    comps, other = _companions(args, context, engine, kv_type, hws)
    rows = []
    for tg in targets:
        context, depth, notes = contexts[tg.spec.name]
        for q in tg.quants:
            for hw in hws or [None]:
                row = estimate(tg.spec, q, hw, engine.name, context, args.concurrency, kv_type, depth=depth,
                               other_bytes=other, **usable, **_sweep_workload(args)).to_dict()
                row.setdefault("depth", depth or context)
                row["notes"] = notes + list(row.get("notes") or [])
                rows.append(row)
    sources = [tg.source for tg in targets if tg.source]
    if args.json:
        from tokbench.cli.output import print_json

        print_json({"rows": rows, "with": comps, **({"sources": sources} if sources else {})})
        return 0
    from tokbench.cli import plan_render
    from tokbench.cli.plan_source import describe

    for tg in targets:
        context, depth, notes = contexts[tg.spec.name]
        for line in describe(tg.source):
            print(line)
        mine = [r for r in rows if r["model"] == tg.spec.name]
        short = {}
        if hws and (depth or context) > 4096:
            for r in mine:
                s = estimate(tg.spec, r["quant"], next(h for h in hws if h.label == r["hardware"]), engine.name,
                             context, args.concurrency, kv_type, depth=4096, other_bytes=other, **usable,
                             **_sweep_workload(args))
                short[(r["hardware"], r["quant"])] = s.to_dict()
        plan_render.render_model(tg.spec, mine, hws, comps, short, notes)
    return 0


def _run_recommend(args, hws, quants, kv_type, usable) -> int:
    from tokbench.cli.plan_args import check_combination, default_quants, resolve_context, resolve_engine
    from tokbench.plan.recommend import recommend

    engine = resolve_engine(args.engine, quants)
    quants = quants or default_quants(engine, ranking=True)
    check_combination(engine, hws, quants)
    context, _, _ = resolve_context(args.context, None, None, args.extrapolate)
    comps, other = _companions(args, context, engine, kv_type, hws)
    rows, left_out = [], set()
    for hw in hws:
        for r in recommend(hw, args.min_tps, context, engine.name, args.concurrency, kv_type, tuple(quants), other,
                           **usable):
            limit = _max_context(r["model"])
            if limit and context > limit and not args.extrapolate:
                left_out.add((r["model"], limit))  # past its trained maximum: not an option at this context
                continue
            rows.append(r)
    if args.json:
        from tokbench.cli.output import print_json

        print_json({"rows": rows, "with": comps,
                    "left_out": [{"model": m, "max_context": c, "why": "context past the model's maximum"}
                                 for m, c in sorted(left_out)]})
        return 0
    from tokbench.cli import plan_render

    plan_render.render_recommend(rows, hws, args.min_tps, context, comps, sorted(left_out))
    return 0


def _max_context(model: str) -> int:
    from tokbench.modelspec import load_spec

    return load_spec(model).context_length
