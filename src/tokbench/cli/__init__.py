"""Thin command-line layer: each command is a module with ``register(subparsers)`` and ``run(args)``."""
