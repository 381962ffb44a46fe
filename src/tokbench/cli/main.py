"""Entry point of the ``tokbench`` command.

Each command lives in its own module under ``tokbench.cli`` and exposes ``register(subparsers)``
(argparse only: nothing heavy may be imported at module level, so ``tokbench --help`` and
``tokbench plan`` stay fast) and ``run(args) -> int``. A :class:`tokbench.errors.UserError` becomes
one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tokbench import __version__
from tokbench.errors import UserError

# Order is the order of `tokbench --help`.
COMMANDS = ("plan", "models", "bench", "runs", "synth", "report", "compare", "validate", "import_", "export", "hw", "db")


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line (its default prints the whole usage first)."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse hook
        self.exit(2, f"tokbench: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every command that is installed."""
    parser = _Parser(prog="tokbench", description="Plan and benchmark local LLM inference.")
    parser.add_argument("--version", action="version", version=f"tokbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"tokbench.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"tokbench.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None) or not hasattr(args, "func"):
        parser.print_help()
        return 0 if not getattr(args, "command", None) else 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"tokbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tokbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
