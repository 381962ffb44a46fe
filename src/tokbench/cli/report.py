"""`tokbench report`: stored runs, estimates and published rows as Markdown, HTML or JSON."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` command."""
    from tokbench.cli.db import add_db_arg

    p = sub.add_parser(
        "report", help="report stored runs next to estimates and published figures (md, html, json)",
        description="Tables in the seed's layouts and charts; every number labelled measured / estimated / "
                    "reported with its source. JSON is the versioned results document the other formats render.",
    )
    p.add_argument("--run", action="append", metavar="ID", default=None,
                   help="run id, prefix, name or 'last' (repeatable; default: every stored run)")
    p.add_argument("--format", choices=("md", "html", "json"), default=None,
                   help="output format (default: from --out's suffix, else md)")
    p.add_argument("--out", metavar="PATH", default=None, help="write to PATH instead of stdout (a new file)")
    p.add_argument("--force", action="store_true", help="let --out replace an existing file")
    p.add_argument("--no-reference", action="store_true", help="leave out the published rows and their estimates")
    p.add_argument("--hardware", metavar="ID", default=None,
                   help="add 'What runs on this machine': ranked model x quant options for a hardware id "
                        "(or 'host': this machine, probed) with fit, estimated, measured and published speed")
    p.add_argument("--context", metavar="N", default="4k", help="context for --hardware's options (default 4k)")
    p.add_argument("--min-tps", metavar="TPS", type=float, default=1.0,
                   help="least single-stream decode tok/s an option must reach (default 1)")
    p.add_argument("--json", action="store_true", help="same as --format json")
    add_db_arg(p)
    p.set_defaults(func=run)


def _format(args: argparse.Namespace) -> str:
    if args.json:
        return "json"
    if args.format:
        return args.format
    if args.out:
        suffix = args.out.rsplit(".", 1)[-1].lower()
        return {"html": "html", "htm": "html", "json": "json"}.get(suffix, "md")
    return "md"


def _write(text: str, out: str | None, force: bool) -> None:
    import sys

    from tokbench.safewrite import write_text

    if out is None:
        sys.stdout.write(text)
        return
    # A temporary name, then a rename: a reader never sees half a report, and an existing file is
    # replaced only with --force.
    path, replaced = write_text(out, text, force)
    print(f"{'replaced' if replaced else 'wrote'} {path} ({len(text.encode()):,} bytes)", file=sys.stderr)


def _machine(args: argparse.Namespace) -> dict | None:
    """``--hardware`` and its options, checked before any work (bad input: one line, exit 2)."""
    if args.hardware is None:
        return None
    from tokbench.catalog.hardware import get_hardware
    from tokbench.errors import UserError
    from tokbench.plan.context import parse_context

    hw = get_hardware(args.hardware)  # unknown or ambiguous ids: UserError with close matches
    if args.min_tps <= 0:
        raise UserError(f"--min-tps must be positive, got {args.min_tps:g}")
    return {"hardware": hw, "context": parse_context(args.context), "min_tps": args.min_tps}


def run(args: argparse.Namespace) -> int:
    """Build the results document and render it."""
    import json

    from tokbench.report.document import build_document
    from tokbench.store import open_store, resolve_db_path

    fmt = _format(args)
    machine = _machine(args)
    if args.out is not None:
        from tokbench.safewrite import check_file_dest

        check_file_dest(args.out, args.force, parent_must_exist=True)
    path = resolve_db_path(args.db)
    if args.run and not path.exists():  # reading must not create a database as a side effect
        from tokbench.errors import UserError

        raise UserError(f"no database at {path}, so no run '{args.run[0]}'")
    if path.exists():
        with open_store(path) as store:
            ids = [store.resolve_run_id(r) for r in args.run] if args.run else None
            doc = build_document(store, ids, with_reference=not args.no_reference, machine=machine)
    else:  # no database yet: a report of published rows and estimates, without creating one
        doc = build_document(None, None, with_reference=not args.no_reference, machine=machine)
    if fmt == "json":
        text = json.dumps(doc, indent=2, default=str) + "\n"
    elif fmt == "html":
        from tokbench.report.html import render_html

        text = render_html(doc)
    else:
        from tokbench.report.markdown import render_markdown

        text = render_markdown(doc)
    _write(text, args.out, args.force)
    return 0
