"""Built-in engines by name, imported lazily (``tokbench --help`` must not import llama_cpp or mlx).

Each entry maps a user-facing engine name to ``module:factory``; the factory takes keyword options
(``model``, ``endpoint``, ``api_key``, ``n_parallel`` ...) and returns an object following
:class:`tokbench.engines.protocol.Engine`. Third parties can :func:`register` more.
"""

from __future__ import annotations

import importlib
from typing import Any

from tokbench.errors import unknown

_ENGINES: dict[str, str] = {
    "llama.cpp": "tokbench.engines.llamacpp:LlamaCppEngine",
    "mlx": "tokbench.engines.mlx:MlxEngine",
    "openai": "tokbench.engines.openai_http:OpenAIEngine",
    "llama.cpp-server": "tokbench.engines.servers:LlamaCppServerEngine",
    "mlx-server": "tokbench.engines.servers:MlxServerEngine",
}


def register(name: str, target: str) -> None:
    """Register an engine factory given as ``"package.module:callable"``."""
    if ":" not in target:
        raise ValueError(f"engine target must be 'module:callable', got {target!r}")
    _ENGINES[name] = target


def names() -> list[str]:
    """Registered engine names."""
    return list(_ENGINES)


def create(name: str, **options: Any):
    """Instantiate engine ``name`` with ``options`` (UserError with close matches if unknown)."""
    if name not in _ENGINES:
        raise unknown("engine", name, _ENGINES)
    module_name, attr = _ENGINES[name].split(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(**options)
