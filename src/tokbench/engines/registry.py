"""Bench engines by name, imported lazily (``tokbench --help`` must not import llama_cpp or mlx).

The names and their ``module:factory`` live in the one engine table,
:mod:`tokbench.catalog.engines`; this module only imports and calls the factory. A factory takes
keyword options (``model``, ``endpoint``, ``api_key``, ``n_parallel`` ...) and returns an object
following :class:`tokbench.engines.protocol.Engine`. Third parties add an entry with
:func:`register` (which extends that table).
"""

from __future__ import annotations

import importlib
from typing import Any


def register(name: str, target: str, backend: str = "unknown", server: bool = True) -> None:
    """Register a bench engine factory given as ``"package.module:callable"`` in the engine table."""
    from tokbench.catalog.engines import IN_PROCESS, Engine
    from tokbench.catalog.engines import register as add

    if ":" not in target:
        raise ValueError(f"engine target must be 'module:callable', got {target!r}")
    add(Engine(name, backend, server, IN_PROCESS, ("apple", "nvidia", "amd", "cpu"), ("gguf", "mlx", "hf"), target))


def names() -> list[str]:
    """Engine names ``tokbench bench`` can drive."""
    from tokbench.catalog.engines import bench_engines

    return bench_engines()


def create(name: str, **options: Any):
    """Instantiate engine ``name`` with ``options`` (UserError with close matches if unknown)."""
    from tokbench.catalog.engines import get_bench_engine

    module_name, attr = get_bench_engine(name).factory.split(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(**options)
