"""Published reference rows: the seed document's figures and the calibration measurements.

Two package data files feed this module:

- ``catalog/data/published_rows.csv``: every tok/s and GB figure of the seed document
  (../shared/seed/000_7528d776d4757e9f.txt), already normalized (catalog hardware, model, quant and
  engine ids) with the seed's own wording kept beside, its source URL where the seed names one, a
  label (``reported (blog)``, ``estimated (blog)`` ...) and ``assumed``: which ids are our mapping
  rather than something the seed states.
- ``catalog/data/published_measurements.csv``: the calibration set (llama.cpp scoreboards, DGX
  Spark, mlx-lm, figures measured on the H100 lent here). It is owned by the planner, who keeps
  normalized columns beside the published labels (``hardware_id`` [``ID:GB``], ``model_id``,
  ``quant_id``, ``engine_id``, ``metric`` decode|per_stream|prefill|aggregate, ``depth`` = mean
  context depth during the test, ``concurrency``); models outside the catalog are config.json facts
  in ``tokbench.catalog.calibration.CALIBRATION_MODELS``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

SEED_FILE = "published_rows.csv"
CALIBRATION_FILE = "published_measurements.csv"

MEASURED, ESTIMATED, REPORTED = "measured", "estimated", "reported"

# published_measurements.csv's normalized "metric" -> this module's metric names.
CALIBRATION_METRICS = {"decode": "decode_tps", "per_stream": "decode_tps", "prefill": "prefill_tps",
                       "aggregate": "aggregate_decode_tps"}

# Model names as runs and published rows write them -> the planner's calibration model ids.
MODEL_ALIASES = {"synthetic llama 3.02B": "synthetic-llama-3b"}


@dataclass(frozen=True)
class PublishedRow:
    """One published figure with its provenance (see module docstring)."""

    source_file: str
    section: str  # seed section ("1.3") or the test name of a calibration row ("tg128")
    hardware: str  # label as published
    hardware_id: str  # catalog id, "" when unknown
    memory_gb: float | None
    model: str
    model_id: str  # catalog id, calibration model id, or ""
    quant: str
    quant_id: str
    engine: str
    engine_id: str
    context: int | None
    concurrency: int | None
    metric: str  # decode_tps (per stream), aggregate_decode_tps, prefill_tps, weights_gb, kv_gb, ...
    value_text: str
    low: float | None
    high: float | None
    label: str  # "reported (blog)", "estimated (blog)", "reported (scoreboard)", "measured (here)" ...
    source: str  # URL where known, else the source as named
    assumed: tuple[str, ...] = field(default=())
    note: str = ""

    @property
    def provenance(self) -> str:
        """measured | estimated | reported: the label's first word."""
        return self.label.split(" ", 1)[0]

    @property
    def value(self) -> float | None:
        """Point value: the midpoint of a range, the lower bound of an open one ("240+")."""
        if self.low is None:
            return self.high
        if self.high is None:
            return self.low
        return (self.low + self.high) / 2

    def to_dict(self) -> dict:
        """JSON-ready dict, with ``value`` and ``provenance`` included."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["assumed"] = list(self.assumed)
        d["value"] = self.value
        d["provenance"] = self.provenance
        return d


def _num(text: str | None) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text else None


def _read(name: str) -> list[dict[str, str]]:
    text = resources.files("tokbench.catalog").joinpath(f"data/{name}").read_text()
    return list(csv.DictReader(text.splitlines()))


def _seed_rows() -> list[PublishedRow]:
    out = []
    for r in _read(SEED_FILE):
        out.append(PublishedRow(
            source_file=SEED_FILE, section=r["section"], hardware=r["hardware"], hardware_id=r["hardware_id"],
            memory_gb=_num(r["memory_gb"]), model=r["model"], model_id=r["model_id"], quant=r["quant"],
            quant_id=r["quant_id"], engine=r["engine"], engine_id=r["engine_id"], context=_int(r["context"]),
            concurrency=_int(r["concurrency"]), metric=r["metric"], value_text=r["value"], low=_num(r["value_low"]),
            high=_num(r["value_high"]), label=r["label"], source=r["source_url"] or "seed document (no source named)",
            assumed=tuple(a for a in r["assumed"].split(";") if a), note=r["note"],
        ))
    return out


def map_model(label: str) -> str:
    """Catalog id or calibration model id for a model label ("" if unknown)."""
    from tokbench.catalog.calibration import CALIBRATION_MODELS
    from tokbench.catalog.models import catalog

    if label in catalog() or label in CALIBRATION_MODELS:
        return label
    for alias, key in MODEL_ALIASES.items():  # "synthetic llama 3.02B (28 layers; ...)" too
        if label == alias or label.startswith(alias + " "):
            return key
    return ""


def _calibration_label(source: str) -> str:
    if source.startswith("measured here"):
        return "measured (here)"
    if "discussion" in source:
        return "reported (forum)"
    return "reported (benchmark file)"


def _split_hw(text: str) -> tuple[str, float | None]:
    hw_id, _, gb = text.partition(":")
    return hw_id, (float(gb) if gb else None)


def _calibration_rows() -> list[PublishedRow]:
    """Rows of published_measurements.csv through its normalized columns (the planner's)."""
    out, last_source = [], ""
    for r in _read(CALIBRATION_FILE):
        # "same" (or "same; ...") repeats the previous row's source: resolve it so each row stands alone.
        src = r["source"].strip()
        if src.startswith("same") and last_source:
            src = last_source + src[4:]
        else:
            last_source = src
        hw_id, mem = _split_hw(r.get("hardware_id") or "")
        value = _num(r["tokens_per_s"])
        out.append(PublishedRow(
            source_file=CALIBRATION_FILE, section=r["test"], hardware=r["hardware"], hardware_id=hw_id,
            memory_gb=mem, model=r["model"], model_id=r.get("model_id") or map_model(r["model"]), quant=r["quant"],
            quant_id=r.get("quant_id") or "", engine=r["engine"], engine_id=r.get("engine_id") or "",
            context=_int(r.get("depth")), concurrency=_int(r.get("concurrency")),
            metric=CALIBRATION_METRICS.get(r.get("metric") or "", r.get("metric") or ""), value_text=r["tokens_per_s"],
            low=value, high=value, label=_calibration_label(src), source=src,
            note=f"{r['year']}; {r['bandwidth_gbs']} GB/s listed; context = mean depth during the test",
        ))
    return out


@lru_cache(maxsize=1)
def _all_rows() -> tuple[PublishedRow, ...]:
    return tuple(_seed_rows() + _calibration_rows())


def load_published_rows(metric: str | None = None) -> list[PublishedRow]:
    """All published rows (seed first, then calibration), optionally only one ``metric``."""
    rows = _all_rows()
    return [r for r in rows if metric is None or r.metric == metric]


def model_spec(model_id: str):
    """ModelSpec of a catalog or calibration model id; UserError if it cannot be built."""
    from tokbench.catalog.calibration import CALIBRATION_MODELS
    from tokbench.errors import UserError
    from tokbench.modelspec import load_spec
    from tokbench.modelspec.hf_config import spec_from_config

    if model_id in CALIBRATION_MODELS:
        return spec_from_config(CALIBRATION_MODELS[model_id], name=model_id, source="catalog/calibration.py")
    if not model_id:
        raise UserError("no model id")
    return load_spec(model_id)


def row_spec(row: PublishedRow):
    """The ModelSpec a published row refers to; UserError if it cannot be built."""
    return model_spec(row.model_id)


def quant_bits(quant: str) -> str:
    """Nominal bits of a quant name, to put engines' 4-bit formats side by side (Q4_K_M ~ mlx-4bit)."""
    q = (quant or "").upper()
    if q in ("F16", "BF16", "FP16"):
        return "16-bit"
    if q in ("F32", "FP32"):
        return "32-bit"
    if q.startswith("MXFP4"):
        return "4-bit"
    m = re.match(r"^(?:MLX-)?(?:I?Q|TQ)?(\d)(?:BIT|_|$)", q)
    return f"{m.group(1)}-bit" if m else (quant or "?")
