"""Hardware catalog: memory bandwidth and sizes of Apple, NVIDIA and AMD parts.

Ids follow ``data/hardware.csv``. ``ID:GB`` picks a memory configuration; an id without a core
count (``m3-ultra``) picks the largest variant of that chip.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources

from tokbench.errors import UserError, unknown


@dataclass(frozen=True)
class Hardware:
    """One machine: its memory and the bandwidth that bounds decode speed."""

    id: str
    name: str
    vendor: str
    kind: str  # apple | nvidia | amd | cpu
    unified_memory: bool
    bandwidth_gbs: float
    memory_gb: float
    memory_options_gb: tuple[float, ...]
    fp16_tflops: float | None = None
    memory_type: str = ""
    notes: str = ""
    source: str = ""
    # What the speed model's kernel roof needs (tokbench.plan.speed): the chip generation whose
    # kernels behave alike (hopper, ada, apple-m3, ...), and its compute units (NVIDIA SMs, Apple GPU
    # cores, AMD CUs, CPU cores) and clock. A CPU host probed by tokbench has none of these: its roof
    # is its measured matmul rate (fp16_tflops holds the probe's float32 rate there).
    generation: str = ""
    compute_units: int | None = None
    clock_mhz: float | None = None

    @property
    def unit_clock_hz(self) -> float | None:
        """Compute units x clock (Hz): the scale of the kernel-throughput roof; None when unknown."""
        if self.compute_units and self.clock_mhz:
            return self.compute_units * self.clock_mhz * 1e6
        return None

    @property
    def memory_group(self) -> str:
        """Memory technology class whose achievable share of the nominal bandwidth the speed model fits:
        hbm, gddr, apple (Apple unified LPDDR), lpddr (other unified LPDDR: DGX Spark, Strix Halo), ddr (CPU)."""
        t = self.memory_type.upper()
        if "HBM" in t:
            return "hbm"
        if "GDDR" in t:
            return "gddr"
        if self.kind == "apple":
            return "apple"
        if "LPDDR" in t and self.kind in ("nvidia", "amd"):
            return "lpddr"
        return "ddr"

    @property
    def label(self) -> str:
        """Short label for tables: ``m3-ultra-80c:256``."""
        return f"{self.id}:{self.memory_gb:g}"

    @property
    def bandwidth_bytes(self) -> float:
        """Bandwidth in bytes per second."""
        return self.bandwidth_gbs * 1e9

    @property
    def memory_bytes(self) -> float:
        """Memory size in bytes (GB as sold: Apple and NVIDIA sizes are GiB-sized chips)."""
        return self.memory_gb * 2**30


@lru_cache(maxsize=1)
def catalog() -> dict[str, Hardware]:
    """All catalog hardware by id (largest memory option selected)."""
    text = resources.files("tokbench.catalog").joinpath("data/hardware.csv").read_text()
    out: dict[str, Hardware] = {}
    for r in csv.DictReader(text.splitlines()):
        options = tuple(float(x) for x in r["memory_options_gb"].split(";") if x)
        out[r["id"]] = Hardware(
            id=r["id"], name=r["name"], vendor=r["vendor"], kind=r["kind"],
            unified_memory=r["unified_memory"] == "true", bandwidth_gbs=float(r["bandwidth_gbs"]),
            memory_gb=max(options), memory_options_gb=options,
            fp16_tflops=float(r["fp16_tflops"]) if r.get("fp16_tflops") else None,
            memory_type=r["memory_type"], notes=r["notes"], source=r["source"],
            generation=r.get("generation") or "", compute_units=int(r["compute_units"]) if r.get("compute_units") else None,
            clock_mhz=float(r["clock_mhz"]) if r.get("clock_mhz") else None,
        )
    return out


def get_hardware(text: str) -> Hardware:
    """Resolve ``ID`` or ``ID:GB`` (e.g. ``m3-ultra-80c:256``, ``m3-ultra``) to a :class:`Hardware`."""
    hw_id, _, gb = text.strip().partition(":")
    hw_id = hw_id.lower()
    cat = catalog()
    hw = cat.get(hw_id)
    if hw is None:
        # A chip id without its core-count suffix picks the fastest (then largest) variant.
        variants = [h for h in cat.values() if h.id.startswith(hw_id + "-") and h.id[len(hw_id) + 1:].endswith("c")]
        if not variants:
            raise unknown("hardware", hw_id, cat)
        hw = max(variants, key=lambda h: (h.bandwidth_gbs, h.memory_gb, h.id))
    if gb:
        try:
            size = float(gb.lower().removesuffix("gb"))
        except ValueError:
            raise UserError(f"bad memory size '{gb}' in '{text}'; use ID:GB, e.g. m3-ultra-80c:256") from None
        if size not in hw.memory_options_gb:
            opts = ", ".join(f"{o:g}" for o in hw.memory_options_gb)
            raise UserError(f"{hw.id} is not sold with {size:g} GB; options: {opts}")
        hw = replace(hw, memory_gb=size)
    return hw
