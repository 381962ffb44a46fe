"""``tokbench synth``: write a model of any architecture and quantization with random weights."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``synth`` command."""
    p = sub.add_parser(
        "synth",
        help="write a synthetic model (random weights, exact shapes and quant types)",
        description="Write MODEL's architecture with random weights as GGUF (llama.cpp) or an MLX "
        "directory (mlx-lm), quantized as llama.cpp or mlx-lm would; speed matches the real model.",
    )
    p.add_argument("model", metavar="MODEL", help="catalog id, config.json, HF/MLX model dir or .gguf file")
    p.add_argument("--quant", required=True, help="quant preset: Q4_K_M, Q8_0, IQ4_XS, MXFP4_MOE, BF16, mlx-4bit ...")
    p.add_argument("--out", required=True,
                   help="GGUF: a new .gguf file, or an existing directory to write <model>-<quant>.gguf into; "
                        "MLX: a new or empty directory")
    p.add_argument("--force", action="store_true",
                   help="replace an existing GGUF file, or a directory holding only tokbench synth's own output "
                        "(nothing else is ever replaced)")
    p.add_argument("--scale-layers", type=int, metavar="N", help="keep the first N layers (layer-kind pattern kept)")
    p.add_argument("--scale-width", type=float, metavar="F", help="scale widths and heads by F in (0, 1]")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes; default 0)")
    p.add_argument("--vocab", default=None, metavar="N|real",
                   help="vocabulary size, or 'real' for the architecture's own (default: 2048 tokens)")
    p.add_argument("--format", dest="fmt", choices=("gguf", "mlx"), help="default: mlx for mlx-* quants, else gguf")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _files(path) -> list:
    if path.is_file():
        return [path]
    return sorted(f for f in path.rglob("*") if f.is_file())


def run(args: argparse.Namespace) -> int:
    """Synthesize and report what was written."""
    import time

    from tokbench.modelspec import load_spec
    from tokbench.synth import prepare, synthesize

    spec = load_spec(args.model)
    target = prepare(spec, args.scale_layers, args.scale_width, args.vocab)
    t0 = time.perf_counter()
    path = synthesize(target, args.quant, args.out, seed=args.seed, vocab=target.vocab, fmt=args.fmt,
                      force=args.force)
    seconds = time.perf_counter() - t0
    files = _files(path)
    size = sum(f.stat().st_size for f in files)
    doc = {
        "path": str(path),
        "format": "mlx" if path.is_dir() else "gguf",
        "files": [str(f.relative_to(path)) for f in files] if path.is_dir() else [path.name],
        "forced": bool(args.force),
        "model": spec.name,
        "arch": target.arch,
        "quant": args.quant,
        "n_layers": target.n_layers,
        "hidden": target.hidden,
        "vocab": target.vocab,
        "n_params": target.n_params(),
        "bytes": size,
        "seconds": round(seconds, 3),
        "write_mb_s": round(size / 1e6 / seconds, 1) if seconds > 0 else None,
        "seed": args.seed,
    }
    if args.json:
        from tokbench.cli.output import print_json

        print_json(doc)
    else:
        what = f" ({', '.join(doc['files'])})" if path.is_dir() else ""
        print(f"wrote {doc['path']}{what} ({doc['format']}, {target.arch}, {args.quant}, {target.n_layers} layers, "
              f"hidden {target.hidden}, vocab {target.vocab}, {target.n_params() / 1e6:.1f}M params): "
              f"{size / 1e6:.1f} MB in {seconds:.1f} s ({doc['write_mb_s']} MB/s)")
    return 0
