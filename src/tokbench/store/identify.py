"""What an imported file measured, in tokbench's own terms: catalog model and quant, hardware id,
engine and topology (tokbench.identity.RunIdentity), from the fields the tool wrote.

llama-bench writes ``model_n_params`` and ``model_size`` (the GGUF's exact weight count and tensor
bytes): tokbench computes both for every catalog model (ModelSpec.n_params) and quant preset
(tokbench.plan.memory.weight_bytes, llama.cpp's own per-tensor type choice), so a catalog model
quantized by llama-quantize (or written by ``tokbench synth``) is identified exactly, never guessed
from its name. ``gpu_info`` / ``cpu_info`` name the devices; they map to hardware ids through
tokbench.env.parse and the hardware catalog. Whatever cannot be identified is said in one line and
left unknown (``--model`` / ``--hardware`` set it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

# llama-bench backends (ggml backend registry names) that run the model on a GPU.
GPU_BACKENDS = ("CUDA", "Metal", "Vulkan", "ROCm", "HIP", "SYCL", "MUSA", "CANN", "OpenCL")
# llama-bench split_mode -> Topology.split over several GPUs (llama.cpp: layer = pipeline of layers,
# row = each matrix split by rows across GPUs, i.e. tensor parallel).
SPLITS = {"layer": "pipeline", "row": "tensor"}


@dataclass
class Found:
    """An identification: the value, or None with the reason it is unknown."""

    value: str | None
    reason: str = ""
    extra: dict = field(default_factory=dict)


@lru_cache(maxsize=1)
def _params_index() -> dict[int, tuple[str, ...]]:
    """Exact weight count -> catalog model ids (computed from the catalog's configs)."""
    from tokbench.catalog.models import model_ids
    from tokbench.report.reference import model_spec

    out: dict[int, list[str]] = {}
    for mid in model_ids():
        try:
            n = model_spec(mid).n_params()
        except Exception:  # noqa: BLE001 - a catalog entry the spec reader cannot build: not matchable
            continue
        out.setdefault(n, []).append(mid)
    return {k: tuple(v) for k, v in out.items()}


@lru_cache(maxsize=64)
def _quant_sizes(model_id: str) -> dict[int, tuple[str, ...]]:
    """Exact GGUF tensor bytes -> llama.cpp presets, for one catalog model."""
    from tokbench.plan.memory import weight_bytes
    from tokbench.quant.presets import llamacpp_presets
    from tokbench.report.reference import model_spec

    spec = model_spec(model_id)
    out: dict[int, list[str]] = {}
    for q in llamacpp_presets():
        try:
            out.setdefault(int(weight_bytes(spec, q).total), []).append(q)
        except Exception:  # noqa: BLE001 - a preset this architecture cannot take
            continue
    return {k: tuple(v) for k, v in out.items()}


def _pick_by_name(ids: tuple[str, ...], hint: str) -> str | None:
    """One of several catalog models of the same size: the one the file name names."""
    h = hint.lower()
    named = [m for m in ids if m.lower() in h]
    return max(named, key=len) if named else None


def match_model(n_params, size, model_type: str = "", filename: str = "") -> tuple[Found, Found]:
    """(catalog model, quant) of a GGUF from its exact weight count and tensor bytes."""
    from tokbench.identity import quant_from_text

    text_quant = quant_from_text(model_type)
    try:
        n, nbytes = int(n_params), int(size)
    except (TypeError, ValueError):
        return Found(None, "the file gives no model_n_params"), Found(text_quant, "" if text_quant else "no quant")
    ids = _params_index().get(n, ())
    if len(ids) > 1:
        picked = _pick_by_name(ids, filename)
        ids = (picked,) if picked else ids
    if not ids:
        return (Found(None, f"{n:,} weights ({model_type or '?'}) match no catalog model"),
                Found(text_quant, "" if text_quant else f"quant not known ({model_type or '?'})"))
    if len(ids) > 1:
        return (Found(None, f"{n:,} weights match {len(ids)} catalog models ({', '.join(ids)})"),
                Found(text_quant, "" if text_quant else "quant not known"))
    quants = _quant_sizes(ids[0]).get(nbytes, ())
    model = Found(ids[0], extra={"matched": "model_n_params"})
    if len(quants) == 1:
        return model, Found(quants[0], extra={"matched": "model_size"})
    if text_quant and text_quant in quants:  # presets of equal bytes (F16 / BF16): the tool's text picks
        return model, Found(text_quant, extra={"matched": "model_size+model_type"})
    if quants:
        return model, Found(None, f"{nbytes:,} bytes of {ids[0]} fit {' and '.join(quants)} alike")
    if text_quant:
        # Tensor bytes that no preset gives exactly (a mix llama-quantize was told to use, a file
        # converted by another tool): the quant the tool names, said to be by name.
        return model, Found(text_quant, extra={"matched": "model_type"})
    return model, Found(None, f"{nbytes:,} bytes of {ids[0]} match no llama.cpp preset")


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\(.*?\)", "", name)).strip().lower()


def hardware_from_name(name: str, cpu: bool = False) -> Found:
    """Catalog hardware id of a device name a tool printed (``NVIDIA H200``, ``Apple M3 Max``,
    ``AMD Ryzen AI Max+ 395``); ``cpu``: the name is of the CPU that ran the model (the catalog
    lists a chip's CPU cores apart from its GPU)."""
    from tokbench.catalog.hardware import catalog, get_hardware
    from tokbench.env.parse import apple_chip, nvidia_catalog_id
    from tokbench.errors import UserError

    name = name.strip()
    if not name:
        return Found(None, "the file names no device")
    exact = [h for h in catalog().values() if _norm(h.name) == _norm(name)]
    if len(exact) > 1:
        exact = [h for h in exact if (h.kind == "cpu") == cpu]
    if len(exact) == 1:
        return Found(exact[0].id)
    if cpu:
        return Found(None, f"CPU '{name}' is not in the hardware catalog")
    if "nvidia" in name.lower() or "geforce" in name.lower():
        gb = re.search(r"(\d+)\s*GB", name, re.I)
        if "a100" in name.lower() and not gb:
            return Found(None, f"'{name}' is an A100 of unknown memory size (40 or 80 GB)")
        hw = nvidia_catalog_id(name, float(gb.group(1)) * 1024 if gb else 0.0)
        return Found(hw) if hw else Found(None, f"GPU '{name}' is not in the hardware catalog")
    chip = apple_chip(name)
    if chip:
        try:
            return Found(get_hardware(chip).id)
        except UserError as exc:  # e.g. an M3 Ultra: its GPU core count is not in the name
            return Found(None, f"'{name}': {exc}")
    return Found(None, f"device '{name}' is not in the hardware catalog")


def llama_devices(row: dict) -> tuple[Found, int, str | None]:
    """(hardware, GPUs used, split) of a llama-bench row: the GPUs when a GPU backend ran layers on
    them, else the CPU."""
    backends = str(row.get("backends") or "")
    gpu_names = [g.strip() for g in str(row.get("gpu_info") or "").split(",") if g.strip()]
    on_gpu = any(b.strip() in GPU_BACKENDS for b in backends.split(",")) and int(row.get("n_gpu_layers") or 0) > 0
    if not on_gpu or not gpu_names:
        return hardware_from_name(str(row.get("cpu_info") or ""), cpu=True), 0, None
    kinds = sorted(set(gpu_names))
    if len(kinds) > 1:
        return Found(None, f"mixed GPUs ({', '.join(kinds)})"), len(gpu_names), None
    mode = str(row.get("split_mode") or "layer")
    gpus = 1 if mode == "none" else len(gpu_names)
    return hardware_from_name(kinds[0]), gpus, (SPLITS.get(mode, mode) if gpus > 1 else None)


def llama_version(row: dict) -> str:
    """llama.cpp build of a llama-bench row: ``b6123 (abc1234)``; "" when the build did not say."""
    commit, number = str(row.get("build_commit") or ""), int(row.get("build_number") or 0)
    commit = "" if commit in ("unknown", "") else commit
    if number and commit:
        return f"b{number} ({commit})"
    return f"b{number}" if number else commit


def parse_model_override(text: str) -> tuple[str, str | None]:
    """``--model ID[:QUANT]``: a catalog model id (close matches when unknown) and a quant preset."""
    from tokbench.catalog.models import model_ids
    from tokbench.errors import unknown
    from tokbench.quant.presets import parse_quant
    from tokbench.report.reference import map_model

    model, _, quant = text.strip().partition(":")
    key = map_model(model)
    if not key:
        raise unknown("model", model, model_ids())
    return key, (parse_quant(quant) if quant else None)


def check_hardware_override(text: str) -> str:
    """``--hardware ID``: a catalog hardware id (close matches when unknown; ``host`` is refused:
    the machine that wrote the file is not this one)."""
    from tokbench.catalog.hardware import get_hardware
    from tokbench.errors import UserError

    if text.strip().lower().partition(":")[0] == "host":
        raise UserError("--hardware host names this machine, not the one that wrote the file; give a catalog id")
    return get_hardware(text).id
