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


class _Help(argparse.HelpFormatter):
    """Help that shows each option's default, unless its text already says it or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (action.option_strings and "default" not in text.lower() and default not in (None, False, [], "")
                and default is not argparse.SUPPRESS and not isinstance(action, argparse._VersionAction)):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line (its default prints the whole usage first)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # noqa: D102 - argparse hook
        self.exit(2, f"tokbench: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every command that is installed."""
    parser = _Parser(prog="tokbench", description="Plan and benchmark local LLM inference.")
    parser.add_argument("--version", action="version", version=f"tokbench {__version__}")
    # Global options, also accepted after the command (each command that takes them defines its own).
    parser.add_argument("--db", dest="global_db", metavar="PATH", default=None,
                        help="database file, for the commands that use one ($TOKBENCH_DB, else the user data dir)")
    parser.add_argument("--json", dest="global_json", action="store_true",
                        help="print JSON, for every command that prints results")
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


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """Run one command; returns the process exit code (``parser``: one from :func:`build_parser`, reused)."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None) or not hasattr(args, "func"):
        parser.print_help()
        return 0 if not getattr(args, "command", None) else 2
    try:
        _apply_globals(args)
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"tokbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tokbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _apply_globals(args: argparse.Namespace) -> None:
    """Move ``--db``/``--json`` given before the command onto the command's own options."""
    name = " ".join(x for x in (args.command, getattr(args, "hw_command", None)) if x)
    if args.global_db is not None:
        if not hasattr(args, "db"):
            raise UserError(f"--db does not apply to '{name}' (it uses no database)")
        if args.db is not None and args.db != args.global_db:
            raise UserError(f"--db given twice with different paths: {args.global_db} and {args.db}")
        args.db = args.global_db
    if args.global_json:
        if not hasattr(args, "json"):
            raise UserError(f"--json does not apply to '{name}'")
        args.json = True


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
