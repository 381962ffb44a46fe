"""Hardware catalog: memory bandwidth and sizes of Apple, NVIDIA and AMD parts.

Ids follow ``data/hardware.csv``. ``ID:GB`` picks a memory configuration. ``host`` is this machine
as ``tokbench hw probe`` sees it. A prefix names a part only when it names one: ``dgx`` is
``dgx-spark``, while ``m3-ultra`` (60 or 80 GPU cores) and ``h100`` (SXM or PCIe) are refused with
the choices listed.
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
    # A CPU host probed by tokbench also knows what one core reads from memory (the probe's one-thread
    # figure, GB/s) and its last-level cache (MiB): a few threads stream no faster than their cores do,
    # and a model that fits in the cache is not read from memory at all.
    core_bandwidth_gbs: float | None = None
    llc_mib: float | None = None
    # A probed CPU host's llama.cpp kernels timed (tokbench.env.kernels.KernelProbe; a dict when read back
    # from a stored run): the plan's CPU parameters are rescaled to them (tokbench.plan.host).
    kernel_probe: object | None = None

    def on_threads(self, threads: int | None) -> "Hardware":
        """This CPU as an engine running ``threads`` threads sees it: that many compute units, and the
        probed matmul rate (measured on every core) scaled to them. Other kinds, or no thread count,
        are returned as they are. (llama.cpp in tokbench's own engine leaves one core to the client.)"""
        if self.kind != "cpu" or not threads or not self.compute_units or threads >= self.compute_units:
            return self
        share = threads / self.compute_units
        return replace(self, compute_units=threads,
                       fp16_tflops=self.fp16_tflops * share if self.fp16_tflops else self.fp16_tflops)

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


HOST = "host"


@lru_cache(maxsize=1)
def _host() -> Hardware:
    # Probed once per process: the bandwidth measurement takes a second or more.
    import sys

    from tokbench.env import host_hardware

    # a CPU host's first plan times llama.cpp's kernels (seconds, once per host): said on stderr, not in --json
    return host_hardware(progress=lambda text: print(f"tokbench: {text}", file=sys.stderr, flush=True))


def _size(gb: str, text: str) -> float:
    import math

    try:
        size = float(gb.strip().lower().removesuffix("gb"))
    except ValueError:
        size = math.nan
    if not (math.isfinite(size) and size > 0):
        raise UserError(f"bad memory size '{gb}' in '{text}'; use ID:GB, e.g. m3-ultra-80c:256")
    return size


def _by_id(hw_id: str, largest_variant: bool) -> Hardware:
    """A catalog id, or a prefix that names exactly one part (ambiguous prefixes list the choices)."""
    cat = catalog()
    if hw_id in cat:
        return cat[hw_id]
    variants = sorted(h for h in cat if h.startswith(hw_id + "-")) if hw_id else []
    if len(variants) == 1:
        return cat[variants[0]]
    chips = [cat[h] for h in variants if h[len(hw_id) + 1:].endswith("c")]  # core-count variants of one chip
    if largest_variant and chips:
        return max(chips, key=lambda h: (h.bandwidth_gbs, h.memory_gb, h.id))
    if variants:
        raise UserError(f"hardware '{hw_id}' is ambiguous; choose one of: {', '.join(variants)}")
    raise unknown("hardware", hw_id, [*cat, HOST])


def get_hardware(text: str, largest_variant: bool = False) -> Hardware:
    """Resolve ``ID``, ``ID:GB`` or ``host[:GB]`` (e.g. ``m3-ultra-80c:256``) to a :class:`Hardware`.

    ``GB`` must be a size the part is sold with; for ``host`` it may be any size (the memory to plan
    with on this machine). UserError (one line) for unknown or ambiguous names and bad sizes.
    ``largest_variant``: a chip id without its GPU-core count (``m4-max``) is its fastest, then
    largest, variant instead of ambiguous: for data whose source names no core count, never for what
    a user types.
    """
    hw_id, _, gb = text.strip().partition(":")
    hw_id = hw_id.strip().lower()
    if hw_id == HOST:
        hw = _host()
        if gb:
            size = _size(gb, text)
            hw = replace(hw, memory_gb=size, memory_options_gb=tuple(sorted({*hw.memory_options_gb, size})))
        return hw
    hw = _by_id(hw_id, largest_variant)
    if gb:
        size = _size(gb, text)
        if size not in hw.memory_options_gb:
            opts = ", ".join(f"{o:g}" for o in hw.memory_options_gb)
            raise UserError(f"{hw.id} is not sold with {size:g} GB; options: {opts}")
        hw = replace(hw, memory_gb=size)
    return hw
