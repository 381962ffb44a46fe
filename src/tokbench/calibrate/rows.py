"""Every measured and published speed row the speed model is fitted on and checked against.

Sources (each row keeps its own source text):

- ``catalog/data/published_measurements.csv``: published scoreboards (llama.cpp Apple/CUDA, DGX
  Spark, mlx-lm) and this workplace's H100 campaign;
- ``data/published/decode_prefill.csv`` (same columns): further published rows across quant types;
- ``data/cpu_host/measurements.csv``: this project's CPU host (llama.cpp in process), model shapes
  given inline.

Rows whose ``role`` is ``test`` (a pre-registered machine, e.g. the H200) never enter a fit.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # the repository (rows from data/ exist only in a checkout)
EXTRA_FILES = ("data/published/decode_prefill.csv", "data/published/cpu.csv")
CPU_HOST_FILE = "data/cpu_host/measurements.csv"
# Probed CPU hosts measured by this project, one hardware id each (not "host": that id is whatever
# machine a user probes, which no fit has seen): this 2-core VM, and the lent GPU machine's Xeon; both hosts
# again on older llama.cpp builds (build_era.csv); the dev VM of 2026-12-01 (a 2-vCPU Xeon, 300 MiB L3), whose
# rows are role test, in no fit.
CPU_HOST_FILES = (CPU_HOST_FILE, "data/cpu_device/measurements.csv", "data/cpu_host/build_era.csv",
                  "data/cpu_host/measurements_xeon_2c.csv")


@dataclass
class Row:
    """One measurement with what the model needs to predict it."""

    hardware_id: str
    model_id: str
    quant_id: str
    engine_id: str  # tokbench engine name (catalog/engines.py)
    metric: str  # decode | prefill | aggregate | sweep
    depth: int  # decode: mean depth during the test; prefill: mean depth of the prompt's tokens
    concurrency: int
    tps: float
    source: str
    role: str = ""
    server: bool = False  # measured through llama-server's HTTP loop
    test: str = ""
    extra: dict = field(default_factory=dict)  # sweep workload (prompt, gen, requests), ITL
    hw: object = None
    spec: object = None
    work: object = None

    @property
    def flash_attn(self) -> bool:
        """Whether llama.cpp ran flash attention: as the row states (``-fa 0`` / ``-fa 1`` in its test or
        engine text), else its build's default: llama-bench's ``auto`` (on where the backend has it) in the
        builds this project calls current (its own llama-bench JSON: ``flash_attn: -1``), off in older
        ones, and off in llama-cpp-python's server (tokbench's embedded engine). MLX's attention is its own
        fused kernel: counted as on."""
        import re

        m = re.search(r"-fa (\d)", f"{self.test} {self.extra.get('engine_text', '')}")
        if m:
            return m.group(1) == "1"
        if "tokbench bench --engine llama.cpp " in f"{self.source} ":
            return False  # llama-cpp-python's server: flash_attn defaults to False
        return self.era == "current"

    @property
    def era(self) -> str:
        """llama.cpp build era of the measurement (kernels changed between them): ``current`` (build >= 6000,
        this project's own campaigns, or no build given in a 2026 measurement), ``2025`` (3500-5999),
        ``2024`` (< 3500), ``unknown`` (no build given, before 2026); or the era a row states (an older
        build this project ran, whose sources carry no build number)."""
        import re

        if self.extra.get("era"):  # stated by the row (an older build run here: data/cpu_host/build_era.csv)
            return self.extra["era"]
        if self.engine_id.startswith("mlx"):
            # Build eras are llama.cpp's kernel history; MLX's kernels are another project's, and its six
            # rows cannot pin a factor of their own (held out, the M4 Max's quantized rows swung to -32..-55%).
            return "current"
        text = f"{self.extra.get('engine_text', '')} {self.source}"
        if self.source.startswith("measured here") or self.extra.get("probed"):
            return "current"  # llama-cpp-python 0.3.36's llama.cpp (2026), built by this project
        m = re.search(r"\((\d{4,5})\)|\bb(\d{4,5})\b", text)
        if not m:
            # No build printed: a 2026 measurement ran a build >= b7000 (b6000 was tagged in 2025).
            return "current" if self.extra.get("year", "")[:4] >= "2026" else "unknown"
        build = int(m.group(1) or m.group(2))
        return "current" if build >= 6000 else "2025" if build >= 3500 else "2024"

    @property
    def key(self) -> tuple:
        """Identity used to drop duplicate rows across files."""
        return (self.hardware_id, self.model_id, self.quant_id, self.engine_id, self.metric, self.depth,
                self.concurrency, self.server, round(self.tps, 2))


def _resolve_same(rows: list[dict]) -> list[dict]:
    """``same`` (or ``same; ...``) in a source column repeats the previous row's source."""
    last = ""
    out = []
    for r in rows:
        src = (r.get("source") or "").strip()
        if src.startswith("same") and last:
            src = last + src[4:]
        else:
            last = src
        out.append({**r, "source": src})
    return out


def _csv_rows(text: str, origin: str) -> list[Row]:
    out = []
    for r in _resolve_same(list(csv.DictReader(text.splitlines()))):
        engine_text = r.get("engine") or ""
        metric = {"per_stream": "decode"}.get(r["metric"], r["metric"])
        conc, tps, test = int(float(r["concurrency"] or 1)), float(r["tokens_per_s"]), r.get("test", "")
        extra = {}
        if metric == "aggregate" and conc > 1:
            extra["step_s"] = conc / tps  # llama-batched-bench: every sequence gains a token per step
        elif metric == "decode" and conc > 1:
            if "(median)" in test:
                extra["step_s"] = 1.0 / tps  # median per-stream rate: a pure batched step
            else:
                metric = "sweep_mean"  # a closed-loop sweep's mean: the sweep files carry it with its workload
        out.append(Row(hardware_id=r["hardware_id"].split(":", 1)[0], model_id=r["model_id"], quant_id=r["quant_id"],
                       engine_id=r["engine_id"], metric=metric, depth=int(float(r["depth"] or 0)), concurrency=conc,
                       tps=tps, source=r["source"] or origin, role=(r.get("role") or "").strip(),
                       server="llama-server" in engine_text, test=test,
                       extra={**extra, "engine_text": engine_text, "year": (r.get("year") or "").strip()}))
    return out


SWEEP_FILE = "data/h100_campaign/server_sweeps.csv"
SWEEP_GEN = 128  # the campaign's sweeps generated 128 tokens per request


def _sweep_rows(path: Path, hardware_id: str = "h100-sxm") -> list[Row]:
    """Closed-loop llama-server sweeps (tokbench bench): per-stream means with their workload; the median
    inter-token gap at concurrency > 1 is a pure batched step."""
    out = []
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            conc, prompt = int(r["concurrency"]), int(r["context_depth"])
            # run ids start with the date: the campaign's llama-server was a current build (flash attention on)
            extra = {"prompt": prompt, "gen": SWEEP_GEN, "requests": int(r["requests"]), "year": r["run_id"][:4]}
            if conc > 1:
                extra["step_s"] = float(r["itl_ms_p50"]) / 1e3
            out.append(Row(hardware_id=hardware_id, model_id=r["model_id"], quant_id=r["quant_id"], engine_id="llama.cpp",
                           metric="sweep", depth=prompt + SWEEP_GEN // 2, concurrency=conc,
                           tps=float(r["decode_tps_per_stream"]), source=f"{SWEEP_FILE} (run {r['run_id']})",
                           role=(r.get("role") or "").strip(), server=True, test="sweep", extra=extra))
    return out


def _cpu_host_rows(path: Path) -> list[Row]:
    """CPU host rows: the model shape is inline (synthetic llama models), the host's probe beside it."""
    out = []
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            metric = {"per_stream": "decode"}.get(r["metric"], r["metric"])
            conc = int(r["concurrency"])
            row = Row(hardware_id=r["hardware_id"], model_id=r["model_id"], quant_id=r["quant_id"],
                      engine_id=r["engine_id"], metric=metric, depth=int(r["depth"]), concurrency=int(r["concurrency"]),
                      tps=float(r["tokens_per_s"]), source=f"{path.parent.name}/{path.name} ({r['date']}: {r['command']})",
                      role=(r.get("role") or "").strip(), test=r["metric"])
            row.extra = {"probed": True, "cpu": r["cpu"], "cores": int(r["cores"]), "bandwidth_gbs": float(r["bandwidth_gbs"]),
                         # llama.cpp's threads in the run (rows before this column ran on every core)
                         "threads": int(r.get("threads") or r["cores"]),
                         "fp32_tflops": float(r["fp16_tflops"]), "clock_mhz": float(r["clock_mhz"]),
                         "generation": r["generation"],
                         # the probe's one-core read and the last-level cache (absent in rows before them)
                         "core_bandwidth_gbs": float(r["core_bandwidth_gbs"]) if r.get("core_bandwidth_gbs") else None,
                         "llc_mib": float(r["llc_mib"]) if r.get("llc_mib") else None}
            if r.get("n_layers"):  # a synthetic shape written inline; else model_id is a catalog model
                row.extra["config"] = {"model_type": r["arch"], "num_hidden_layers": int(r["n_layers"]),
                                       "hidden_size": int(r["hidden"]), "num_attention_heads": int(r["n_heads"]),
                                       "num_key_value_heads": int(r["n_kv_heads"]), "head_dim": int(r["head_dim"]),
                                       "intermediate_size": int(r["intermediate"]), "vocab_size": int(r["vocab"])}
            if r.get("era"):  # an older llama.cpp build run on the same host (data/cpu_host/build_era.csv)
                row.extra["era"] = r["era"]
                row.extra["engine_text"] = f"llama.cpp CPU (build {r['build']}, {row.extra['threads']} threads)"
            if conc > 1:
                row.extra["step_s"] = 1.0 / row.tps  # in-process batch: each stream gains a token per step
            out.append(row)
    return out


def _threads(row: Row) -> int | None:
    """Thread count a CPU row's engine text states (``..., 8 threads)``), else None."""
    import re

    m = re.search(r"(\d+) threads", row.extra.get("engine_text", ""))
    return int(m.group(1)) if m else None


def _host_hardware(row: Row):
    from tokbench.catalog.hardware import Hardware

    e = row.extra
    return Hardware(id=row.hardware_id, name=e["cpu"], vendor="", kind="cpu", unified_memory=True,
                    bandwidth_gbs=e["bandwidth_gbs"], memory_gb=24.0, memory_options_gb=(24.0,),
                    fp16_tflops=e["fp32_tflops"], memory_type="DDR", generation=e["generation"],
                    compute_units=e["cores"], clock_mhz=e["clock_mhz"], core_bandwidth_gbs=e.get("core_bandwidth_gbs"),
                    llc_mib=e.get("llc_mib")).on_threads(e["threads"])


def attach(rows: list[Row]) -> tuple[list[Row], list[str]]:
    """Resolve hardware, model spec and work profile of each row; (usable rows, skip reasons)."""
    from tokbench.catalog.hardware import get_hardware
    from tokbench.modelspec.hf_config import spec_from_config
    from tokbench.plan.work import work_profile
    from tokbench.report.reference import model_spec

    cache: dict = {}
    out, skipped = [], []
    for r in rows:
        try:
            if r.extra.get("probed"):  # this project's CPU hosts: the probe's figures are the hardware
                r.hw = _host_hardware(r)
            else:
                r.hw = get_hardware(r.hardware_id, largest_variant=True)  # published rows may omit the core count
                threads = _threads(r)
                if r.hw.kind == "cpu" and threads:
                    r.hw = replace(r.hw, compute_units=threads)  # the cores llama.cpp ran on, not the chip's
            config = r.extra.get("config")  # a synthetic shape written inline, else a catalog model
            key = ("cfg", r.model_id, r.quant_id) if config else (r.model_id, r.quant_id)
            if key not in cache:
                spec = (spec_from_config(config, name=r.model_id, source=CPU_HOST_FILE) if config
                        else model_spec(r.model_id))
                cache[key] = (spec, work_profile(spec, r.quant_id))
            r.spec, r.work = cache[key]
        except Exception as exc:  # noqa: BLE001 - a row the planner cannot model yet: report it, go on
            skipped.append(f"{r.hardware_id} {r.model_id} {r.quant_id} {r.metric}: {exc}")
            continue
        out.append(r)
    return out, skipped


@lru_cache(maxsize=1)
def load_rows(include_cpu_host: bool = True) -> tuple[tuple[Row, ...], tuple[str, ...]]:
    """All rows with hardware, spec and work attached (duplicates across files dropped)."""
    text = resources.files("tokbench.catalog").joinpath("data/published_measurements.csv").read_text()
    rows = _csv_rows(text, "published_measurements.csv")
    for rel in EXTRA_FILES:
        p = ROOT / rel
        if p.exists():
            rows += _csv_rows(p.read_text(), rel)
    if (ROOT / SWEEP_FILE).exists():
        rows += _sweep_rows(ROOT / SWEEP_FILE)
    for rel in CPU_HOST_FILES if include_cpu_host else ():
        if (ROOT / rel).exists():
            rows += _cpu_host_rows(ROOT / rel)
    seen, unique = set(), []
    for r in rows:
        if r.key not in seen:
            seen.add(r.key)
            unique.append(r)
    ok, skipped = attach(unique)
    return tuple(ok), tuple(skipped)
