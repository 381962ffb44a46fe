"""What ``tokbench plan MODEL`` plans: the specs and quants behind MODEL, and where they came from.

MODEL is a catalog id, a local file or directory, or a Hugging Face repo id (``owner/name``,
``owner/name:QUANT``). A GGUF (local or in a repo) is planned with its own per-tensor types, and
llama.cpp's preset rule for the same quant is shown beside it; a repo's other files (mmproj vision
towers, MTP blocks) are counted apart. Argparse-free below ``resolve``: it takes plain values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from tokbench.modelspec.model import ModelSpec


@dataclass
class PlanTarget:
    """One model to plan and the quants to plan it at; ``source`` describes a file or repo read."""

    spec: ModelSpec
    quants: list[str]
    source: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def predicted(spec: ModelSpec, preset: str) -> int | None:
    """Weight bytes llama.cpp's ``preset`` rule gives the file's tensors (None if it does not apply)."""
    from tokbench.errors import UserError
    from tokbench.modelspec.model import TensorSpec
    from tokbench.quant.llamacpp import weights_bytes
    from tokbench.quant.presets import PRESETS, parse_quant

    try:
        name = parse_quant(preset)
    except UserError:
        return None
    if name not in PRESETS or PRESETS[name].is_mlx or spec.tensor_list is None:
        return None
    bare = replace(spec, file_type=None, tensor_list=tuple(TensorSpec(t.name, t.shape, t.layer) for t in spec.tensor_list))
    try:
        return weights_bytes(bare, name)
    except (ValueError, UserError):
        return None


def _file_source(spec: ModelSpec, label: str | None) -> dict[str, Any]:
    """File weights beside the preset prediction for the same quant name."""
    preset = label if label and predicted(spec, label) is not None else spec.file_type
    out: dict[str, Any] = {"file_quant": label or spec.file_type, "weights_bytes": spec.weights_bytes,
                           "apart": dict(spec.apart)}
    if preset and spec.weights_bytes:
        pred = predicted(spec, preset)
        if pred is not None:
            out["prediction"] = {"preset": preset, "weights_bytes": pred,
                                 "diff_pct": round(100 * (pred - spec.weights_bytes) / spec.weights_bytes, 2)}
    return out


def _hub_targets(model: str, labels: list[str] | None, default) -> list[PlanTarget]:
    from tokbench.modelspec.hub import load_hub_spec, parse_ref

    ref = parse_ref(model)
    targets = []
    for label in labels or [ref.quant]:
        hub = load_hub_spec(ref, label)
        src = {"hub": hub.to_dict()}
        if hub.kind == "gguf":
            src.update(_file_source(hub.spec, hub.label))
            targets.append(PlanTarget(hub.spec, ["native"], src))  # the file's own per-tensor types
            continue
        # safetensors: each --quant is a prediction for this architecture (an MLX repo: its own mode)
        src.update({"weights_bytes": hub.spec.weights_bytes, "apart": dict(hub.spec.apart)})
        return [PlanTarget(hub.spec, [hub.label] if hub.label and not labels else list(default(hub.spec)), src)]
    return targets


def resolve(model: str, labels: list[str] | None, default) -> list[PlanTarget]:
    """The targets for ``model``. ``labels``: the --quant values as typed (a GGUF repo's file labels,
    e.g. UD-Q4_K_XL); ``default(spec)``: the quants to plan any other model at (presets parsed)."""
    from tokbench.catalog.models import catalog
    from tokbench.modelspec import load_spec
    from tokbench.modelspec.hub import is_hub_ref

    if model not in catalog() and is_hub_ref(model):
        return _hub_targets(model, labels, default)
    spec = load_spec(model)
    quants = list(default(spec))
    if spec.tensor_list is not None and spec.file_type is not None and all(t.ggml_type for t in spec.tensor_list):
        return [PlanTarget(spec, quants, _file_source(spec, spec.file_type))]  # a local GGUF: its types + prediction
    src = {"weights_bytes": spec.weights_bytes, "apart": dict(spec.apart)} if spec.weights_bytes else None
    return [PlanTarget(spec, quants, src)]


def describe(source: dict[str, Any] | None) -> list[str]:
    """Lines for the terminal: what was read, the file's weights beside the preset's prediction."""
    if not source:
        return []
    gib = 2**30
    lines = []
    hub = source.get("hub")
    if hub:
        what = f"{hub['kind']} {hub['quant'] or ''}".strip()
        files = hub["files"][0] + (f" (+{len(hub['files']) - 1} more)" if len(hub["files"]) > 1 else "")
        lines.append(f"Read {hub['repo']} @ {hub['commit'][:12]} ({what}, {files}): {hub['fetched_bytes']:,} bytes in "
                     f"{hub['requests']} requests ({hub['listing']} listing), no weights")
    pred = source.get("prediction")
    if source.get("weights_bytes"):
        line = f"Weights in the file: {source['weights_bytes'] / gib:,.2f} GiB"
        if pred:
            line += (f"; llama.cpp's {pred['preset']} rule would give {pred['weights_bytes'] / gib:,.2f} GiB "
                     f"({pred['diff_pct']:+.1f}%)")
        lines.append(line + " -- the plan uses the file's own per-tensor types" if pred else line)
    for label, nbytes in (source.get("apart") or {}).items():
        lines.append(f"Counted apart (not loaded as the text model): {label} {nbytes / gib:,.2f} GiB")
    return lines
