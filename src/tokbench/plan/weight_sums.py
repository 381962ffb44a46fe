"""Per-tensor sums of the catalog's models at the default presets, computed once and committed.

A plan needs, per model x quant, sums over every tensor: bytes by storage type, elements, matrices
(:class:`~tokbench.plan.memory.WeightBytes`, the tensor part of :class:`~tokbench.plan.work.WorkProfile`)
and, per model, the parameters a token touches. For the catalog's larger models llama.cpp's
per-tensor type choice alone is ~10 ms of Python per option, and ranking the catalog
(``tokbench plan --min-tps``) asks for dozens: with 32 models that was most of its 0.85 s cold start.

``catalog/data/weight_sums.json`` holds those sums for every catalog model at the presets ``plan``
tries by default and in rankings (:data:`QUANTS`). An entry is keyed by a hash of the spec's
``repr`` (every field except the tensor list, so anything the layout or the quantizer's choices
could depend on), and only specs whose tensors come from their fields (``tensor_list is None``) use
it: a changed config, a cluster stage or a spec read from a file is computed afresh. Graph nodes are
not stored (they come from ``graph_nodes.csv``, cheap to read). tests/plan/test_plan_weight_sums.py
recomputes every entry and requires equality, so a change to the quantizer or the layouts that
moves a number fails there until ``python -m tokbench.plan.weight_sums`` rewrites the file.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources

from tokbench.modelspec.model import ModelSpec

DATA = "data/weight_sums.json"  # under the tokbench.catalog package (its data files ship with it)


def _default_quants() -> tuple[str, ...]:
    """The presets ``plan`` tries without --quant and in rankings, for llama.cpp and MLX."""
    from tokbench.plan.recommend import DEFAULT_QUANTS, RECOMMEND_QUANTS

    out: list[str] = []
    for table in (RECOMMEND_QUANTS, DEFAULT_QUANTS):
        for qs in table.values():
            out += [q for q in qs if q not in out]
    return tuple(out)


QUANTS = _default_quants()


def spec_key(spec: ModelSpec) -> str | None:
    """Content key of a spec whose tensors follow from its fields; None for a file's own tensor list."""
    if spec.tensor_list is not None:
        return None
    return hashlib.sha256(repr(spec).encode()).hexdigest()[:20]


@lru_cache(maxsize=1)
def _table() -> dict:
    text = resources.files("tokbench.catalog").joinpath(DATA).read_text()
    return json.loads(text)["specs"]


def _entry(spec: ModelSpec) -> dict | None:
    key = spec_key(spec)
    return None if key is None else _table().get(key)


def counts(spec: ModelSpec) -> tuple[int, int] | None:
    """(total parameters, parameters a token touches) from the committed sums, or None."""
    e = _entry(spec)
    return None if e is None else (e["n_params"], e["n_active"])


def lookup(spec: ModelSpec, quant: str | None):
    """(WeightBytes, WorkProfile) of ``spec`` x ``quant`` from the committed sums, or None when absent."""
    from tokbench.quant.presets import parse_quant

    e = _entry(spec)
    if e is None or quant is None:
        return None
    q = e["quants"].get(parse_quant(quant))
    if q is None:
        return None
    from tokbench.plan.memory import WeightBytes
    from tokbench.plan.work import TypeWork, WorkProfile, graph_nodes

    wb = WeightBytes(**q["weights"])
    nodes, mm, counted = graph_nodes(spec)
    work = WorkProfile(types={ty: TypeWork(*v) for ty, v in q["work"].items()}, nodes=nodes, matmul_nodes=mm,
                       nodes_counted=counted)
    return wb, work


def fresh_entry(spec: ModelSpec, quants=QUANTS) -> dict:
    """The sums of ``spec`` at ``quants``, computed from its tensors (what the file stores)."""
    from dataclasses import asdict, astuple

    from tokbench.plan.memory import _typed_bytes, weight_bytes
    from tokbench.plan.work import work_profile

    out = {"model": spec.name, "n_params": spec.n_params(), "n_active": spec.n_active_params(), "quants": {}}
    for q in quants:
        try:
            sizes = _typed_bytes(spec, q)
        except Exception:  # noqa: BLE001 - a preset this model cannot take: a plan computes (and refuses) it
            continue
        work = work_profile(spec, q, sizes)
        out["quants"][q] = {"weights": asdict(weight_bytes(spec, q, sizes)),
                            "work": {ty: list(astuple(tw)) for ty, tw in work.types.items()}}
    return out


def build() -> dict:
    """The whole file's content: every catalog model's sums at :data:`QUANTS`."""
    from tokbench.catalog.models import model_ids
    from tokbench.modelspec import load_spec

    specs = {}
    for model in model_ids():
        spec = load_spec(model)
        specs[spec_key(spec)] = fresh_entry(spec)
    return {"about": "per-tensor sums of the catalog's models (tokbench.plan.weight_sums); "
                     "rewrite with: python -m tokbench.plan.weight_sums", "quants": list(QUANTS), "specs": specs}


def main() -> int:
    """Rewrite src/tokbench/catalog/data/weight_sums.json from the catalog and the quantizer."""
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "catalog" / DATA
    doc = build()
    # One line per model: small, and a regenerated file's diff names the models that moved.
    lines = [f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in doc.pop("specs").items()]
    head = json.dumps(doc, indent=1)[:-2]
    path.write_text(head + ',\n "specs": {\n' + ",\n".join(lines) + "\n }\n}\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
