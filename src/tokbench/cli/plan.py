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
    p.add_argument("--hardware", "-H", default=None, help="ID[:GB][,ID[:GB]...], e.g. m3-ultra-80c:256,m3-ultra-80c:512")
    p.add_argument("--context", "-c", default="4k", help="tokens per sequence: 32768, 8k, 128K (default 4k)")
    p.add_argument("--depth", default=None, help="context depth for decode speed (default: --context)")
    p.add_argument("--quant", "-q", default=None, help="comma-separated presets (default: IQ2_XXS,IQ4_XS,Q4_K_M,Q8_0); "
                                                          "for a GGUF repo, the file quants to plan (UD-Q4_K_XL ...)")
    p.add_argument("--engine", "-e", default="llama.cpp", help="llama.cpp (in process, as llama-bench), llama.cpp-server (behind llama-server; also ollama, LM Studio), mlx, vllm, sglang, ollama")
    p.add_argument("--concurrency", "-n", type=int, default=1, help="concurrent sequences (default 1)")
    p.add_argument("--kv-type", default="f16", help="KV cache type: f16, q8_0, q4_0 (default f16)")
    p.add_argument("--min-tps", type=float, default=None, help="rank catalog options reaching this decode tok/s")
    p.add_argument("--with", dest="with_", action="append", default=[], metavar="MODEL:QUANT[:CTX]",
                   help="a companion model sharing the machine (repeatable)")
    p.add_argument("--gpu-limit-gb", type=float, default=None, help="GPU memory limit (Apple: iogpu.wired_limit_mb/1024)")
    p.add_argument("--gpu-fraction", type=float, default=None, help="share of memory the GPU may use (Apple default 0.75)")
    p.add_argument("--os-reserve-gb", type=float, default=None, help="memory kept for the OS on unified-memory machines")
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
    from tokbench.plan.context import parse_context
    from tokbench.plan.kv import parse_kv_type
    from tokbench.plan.memory import parse_engine

    if args.concurrency < 1:
        raise UserError(f"--concurrency must be at least 1, got {args.concurrency}")
    hws = [get_hardware(h) for h in args.hardware.split(",") if h.strip()] if args.hardware else []
    return (hws, parse_context(args.context), parse_engine(args.engine), parse_kv_type(args.kv_type),
            parse_context(args.depth) if args.depth else None)


def _companions(args, context, engine, kv_type, hws) -> tuple[list[dict], int]:
    from tokbench.plan.fit import companion_bytes, parse_with

    items = [parse_with(w, context) for w in args.with_]
    kind = hws[0].kind if hws else "apple"
    comps = companion_bytes(items, engine, kv_type, kind) if items else []
    return comps, sum(c["total_bytes"] for c in comps)


def run(args: argparse.Namespace) -> int:
    """Plan one model (tables + derivation) or rank options for --min-tps; --list lists the catalog."""
    from tokbench.cli import models
    from tokbench.errors import UserError

    if args.list:
        return models.run(args)
    if models.filters_given(args):
        raise UserError("--family/--arch/--min-params/--max-params/--min-active/--max-active filter 'plan --list'")

    hws, context, engine, kv_type, depth = _parse_common(args)
    usable = _usable_kwargs(args)
    comps, other = _companions(args, context, engine, kv_type, hws)
    if args.model is None:
        if args.min_tps is None or not hws:
            raise UserError("give a MODEL, or --hardware with --min-tps to rank the catalog's options")
        return _run_recommend(args, hws, context, engine, kv_type, comps, other, usable)
    return _run_model(args, hws, context, engine, kv_type, depth, comps, other, usable)


def _quants(args, spec, engine) -> list[str]:
    from tokbench.plan.recommend import default_quants
    from tokbench.quant.presets import parse_quant

    if args.quant:
        return [parse_quant(q) for q in args.quant.split(",") if q.strip()]
    return list(default_quants(engine, is_gguf_file=spec.tensor_list is not None and spec.file_type is not None))


def _run_model(args, hws, context, engine, kv_type, depth, comps, other, usable) -> int:
    from tokbench.cli.plan_source import resolve
    from tokbench.plan import estimate, frozen

    labels = [q.strip() for q in args.quant.split(",") if q.strip()] if args.quant else None
    targets = resolve(args.model, labels, lambda spec: _quants(args, spec, engine))
    rows = []
    for tg in targets:
        tg.spec = frozen(tg.spec)
        for q in tg.quants:
            for hw in hws or [None]:
                rows.append(estimate(tg.spec, q, hw, engine, context, args.concurrency, kv_type, depth=depth,
                                     other_bytes=other, **usable).to_dict())
    sources = [tg.source for tg in targets if tg.source]
    if args.json:
        from tokbench.cli.output import print_json

        print_json({"rows": rows, "with": comps, **({"sources": sources} if sources else {})})
        return 0
    from tokbench.cli import plan_render
    from tokbench.cli.plan_source import describe

    for tg in targets:
        for line in describe(tg.source):
            print(line)
        mine = [r for r in rows if r["model"] == tg.spec.name]
        short = {}
        if hws and (depth or context) > 4096:
            for r in mine:
                s = estimate(tg.spec, r["quant"], next(h for h in hws if h.label == r["hardware"]), engine, context,
                             args.concurrency, kv_type, depth=4096, other_bytes=other, **usable)
                short[(r["hardware"], r["quant"])] = s.to_dict()
        plan_render.render_model(tg.spec, mine, hws, comps, short)
    return 0


def _run_recommend(args, hws, context, engine, kv_type, comps, other, usable) -> int:
    from tokbench.plan.recommend import recommend
    from tokbench.quant.presets import parse_quant

    quants = tuple(parse_quant(q) for q in args.quant.split(",")) if args.quant else None
    rows = []
    for hw in hws:
        rows += recommend(hw, args.min_tps, context, engine, args.concurrency, kv_type, quants, other, **usable)
    if args.json:
        from tokbench.cli.output import print_json

        print_json({"rows": rows, "with": comps})
        return 0
    from tokbench.cli import plan_render

    plan_render.render_recommend(rows, hws, args.min_tps, context, comps)
    return 0
