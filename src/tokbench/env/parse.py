"""Parsers for what host commands print (sysctl, system_profiler, nvidia-smi, /proc): pure functions.

Kept apart from running the commands so tests can feed recorded outputs of the real tools.
"""

from __future__ import annotations

import json
import re


def parse_sysctl(text: str) -> dict[str, str]:
    """``sysctl -a``-style ``key: value`` (or ``key = value``) lines -> dict."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([\w.]+)\s*[:=]\s*(.*)$", line.strip())
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def parse_gpu_cores(profiler_json: str) -> int | None:
    """GPU core count from ``system_profiler SPDisplaysDataType -json`` (``sppci_cores``)."""
    try:
        doc = json.loads(profiler_json)
    except (json.JSONDecodeError, TypeError):
        return None
    for item in doc.get("SPDisplaysDataType", []):
        cores = item.get("sppci_cores")
        if cores:
            try:
                return int(str(cores).split()[0])
            except ValueError:
                continue
    return None


def apple_chip(brand: str) -> str | None:
    """``Apple M3 Ultra`` -> ``m3-ultra``; None for a non-Apple brand string."""
    m = re.match(r"Apple (M\d)(?:\s+(Pro|Max|Ultra))?", brand.strip())
    if not m:
        return None
    return m.group(1).lower() + (f"-{m.group(2).lower()}" if m.group(2) else "")


def parse_nvidia_smi(csv_text: str) -> list[dict]:
    """``nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits`` rows."""
    gpus = []
    for line in csv_text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2 or not parts[1].replace(".", "").isdigit():
            continue
        gpus.append({"name": parts[0], "memory_mib": float(parts[1]),
                     "driver": parts[2] if len(parts) > 2 else None})
    return gpus


def parse_meminfo(text: str) -> int | None:
    """MemTotal from /proc/meminfo, in bytes."""
    m = re.search(r"^MemTotal:\s+(\d+)\s+kB", text, re.M)
    return int(m.group(1)) * 1024 if m else None


def parse_cpuinfo(text: str) -> str | None:
    """CPU model name from /proc/cpuinfo."""
    m = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return m.group(1).strip() if m else None


def parse_cpu_facts(text: str) -> dict:
    """Cores, clock (MHz) and SIMD generation of a Linux host from /proc/cpuinfo.

    Generation: ``cpu-x86-avx512``, ``cpu-x86-avx2``, ``cpu-x86`` or ``cpu-arm`` (the widest vector
    unit llama.cpp's CPU kernels use). Cores: distinct (physical id, core id) pairs, else processors.
    """
    cores = set()
    for proc in text.split("\n\n"):
        core = re.search(r"^core id\s*:\s*(\d+)", proc, re.M)
        if core:
            phys = re.search(r"^physical id\s*:\s*(\d+)", proc, re.M)
            cores.add((phys.group(1) if phys else "0", core.group(1)))
    n_proc = len(re.findall(r"^processor\s*:", text, re.M))
    mhz = [float(x) for x in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)]
    fl = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M)
    flags = set(fl.group(1).split()) if fl else set()
    if "avx512f" in flags:
        gen = "cpu-x86-avx512"
    elif "avx2" in flags:
        gen = "cpu-x86-avx2"
    elif "asimd" in flags or "neon" in flags:
        gen = "cpu-arm"
    else:
        gen = "cpu-x86"
    return {"cores": len(cores) or n_proc or None, "clock_mhz": max(mhz) if mhz else None, "generation": gen}


def nvidia_catalog_id(name: str, memory_mib: float) -> str | None:
    """Catalog id for an nvidia-smi GPU name (``NVIDIA H100 80GB HBM3`` -> ``h100-sxm``)."""
    n = name.lower()
    gb = memory_mib / 1024
    rules = [("h200", "h200"), ("gh200", "h200"), ("h100 pcie", "h100-pcie"), ("h100", "h100-sxm"),
             ("a100", None), ("rtx 5090", "rtx-5090"), ("rtx 4090", "rtx-4090"), ("rtx 3090", "rtx-3090"),
             ("gb10", "dgx-spark")]
    for key, hw in rules:
        if key in n:
            if key == "a100":
                if gb < 60:
                    return "a100-40gb"
                return "a100-80gb-pcie" if "pcie" in n else "a100-80gb-sxm"
            return hw
    return None


def parse_cache_size(text: str) -> float | None:
    """MiB of a cache size as sysfs ("32768K", "300M", "1G") or lscpu ("300 MiB") writes it."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)(?:iB)?\s*", text or "")
    if not m:
        return None
    return float(m.group(1)) * {"K": 1 / 1024, "": 1 / 2**20, "M": 1.0, "G": 1024.0}[m.group(2)]


def last_level_cache_mib(caches: list[dict[str, str]]) -> float | None:
    """The last-level cache's MiB from the ``level``/``type``/``size`` entries of a Linux CPU's
    /sys/devices/system/cpu/cpu0/cache/index*: the highest level holding data (an instruction cache
    is never it)."""
    data = [c for c in caches if c.get("type", "").strip() in ("Unified", "Data") and c.get("level", "").strip().isdigit()]
    if not data:
        return None
    top = max(data, key=lambda c: int(c["level"]))
    return parse_cache_size(top.get("size", ""))
