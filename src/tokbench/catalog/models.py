"""Model catalog: config.json facts (Hugging Face field names) for well-known models, with sources.

Each entry of data/models.json is {"source": str, "family": str, "published_params": {"total":
float, "active": float (MoE only), "source": str}, "config": {config.json fields}}.
:func:`list_models` summarises and filters them (``tokbench models``, ``tokbench plan --list``).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources

from tokbench.errors import UserError


@lru_cache(maxsize=1)
def catalog() -> dict[str, dict]:
    """Catalog id -> {"source", "family", "published_params", "config" (config.json field names)}."""
    text = resources.files("tokbench.catalog").joinpath("data/models.json").read_text()
    return json.loads(text)


def model_ids() -> list[str]:
    """All catalog model ids."""
    return sorted(catalog())


def published_params(model_id: str) -> dict:
    """Published parameter counts of a catalog model: {"total", "active" (MoE only), "source"}.

    KeyError for an id not in the catalog (callers resolve ids through tokbench.modelspec.load_spec first).
    """
    return dict(catalog()[model_id]["published_params"])


_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmbt]?)\s*$", re.IGNORECASE)
_SCALE = {"": 1e9, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


def parse_params(text: str, flag: str = "size") -> float:
    """A parameter count as users write it: 30B, 1.5T, 500M (a bare number means billions)."""
    m = _SIZE.match(str(text))
    if not m:
        raise UserError(f"--{flag} must be a parameter count such as 30B, 1.5T or 500M, got '{text}'")
    return float(m.group(1)) * _SCALE[m.group(2).lower()]


@dataclass(frozen=True)
class ModelSummary:
    """One catalog model as ``tokbench models`` shows it (counts from the exact tensor layout)."""

    id: str
    family: str
    arch: str
    total_params: int
    active_params: int
    n_layers: int
    n_experts: int
    n_experts_used: int
    context_length: int
    layer_kinds: dict
    published_total: float | None
    published_active: float | None
    source: str

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


def summary(model_id: str) -> ModelSummary:
    """The :class:`ModelSummary` of a catalog id (its ModelSpec built from the catalog config)."""
    from tokbench.modelspec import load_spec

    spec = load_spec(model_id)
    entry = catalog()[model_id]
    kinds = {k: spec.kinds.count(k) for k in dict.fromkeys(spec.kinds)}
    pub = entry.get("published_params", {})
    return ModelSummary(model_id, entry.get("family", ""), spec.arch, spec.n_params(), spec.n_active_params(),
                        spec.n_layers, spec.n_experts, spec.n_experts_used, spec.context_length, kinds,
                        pub.get("total"), pub.get("active"), entry.get("source", ""))


@dataclass(frozen=True)
class ModelFilter:
    """Filters of ``tokbench models`` / ``plan --list`` (None = no bound)."""

    family: str | None = None
    arch: str | None = None
    min_params: float | None = None
    max_params: float | None = None
    min_active: float | None = None
    max_active: float | None = None

    def check(self) -> None:
        """UserError for an unknown family / architecture (with close matches)."""
        from tokbench.errors import unknown

        if self.family is not None and self.family.lower() not in families():
            raise unknown("model family", self.family, families())
        if self.arch is not None:
            archs = {summary(m).arch for m in model_ids()}
            if self.arch.lower() not in archs:
                raise unknown("architecture", self.arch, archs)

    def accepts(self, s: ModelSummary) -> bool:
        """True when ``s`` passes every bound that is set."""
        if self.family is not None and s.family != self.family.lower():
            return False
        if self.arch is not None and s.arch != self.arch.lower():
            return False
        bounds = ((self.min_params, s.total_params, 1), (self.max_params, s.total_params, -1),
                  (self.min_active, s.active_params, 1), (self.max_active, s.active_params, -1))
        return all(b is None or (v >= b if sign > 0 else v <= b) for b, v, sign in bounds)


def families() -> list[str]:
    """Family names used in the catalog (qwen, llama, gemma, ...)."""
    return sorted({e.get("family", "") for e in catalog().values()} - {""})


def list_models(flt: ModelFilter | None = None) -> list[ModelSummary]:
    """Catalog models passing ``flt``, largest first within each family."""
    flt = flt or ModelFilter()
    flt.check()
    rows = [s for s in (summary(m) for m in model_ids()) if flt.accepts(s)]
    return sorted(rows, key=lambda s: (s.family, -s.total_params))
