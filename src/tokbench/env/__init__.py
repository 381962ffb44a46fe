"""Host probes: what machine is this (CPU, RAM, Apple chip, NVIDIA GPU) and how fast is its memory.

``probe_host()`` returns a JSON-ready dict; ``host_hardware()`` the catalog Hardware that matches
this machine (memory size from the probe), or a ``kind="cpu"`` Hardware with the measured bandwidth
when the host is not in the catalog. The command outputs are parsed by :mod:`tokbench.env.parse`.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path


def _run(cmd: list[str], timeout: float = 10.0) -> str | None:
    """stdout of ``cmd``, or None when it is missing or fails."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout if res.returncode == 0 else None


def probe_apple(run=_run) -> dict | None:
    """Apple chip facts via sysctl and system_profiler (None when not on an Apple-silicon Mac)."""
    from tokbench.env.parse import apple_chip, parse_gpu_cores, parse_sysctl

    keys = ["machdep.cpu.brand_string", "hw.memsize", "hw.perflevel0.physicalcpu", "hw.perflevel1.physicalcpu",
            "iogpu.wired_limit_mb"]
    text = run(["sysctl", *keys])
    if not text:
        return None
    sc = parse_sysctl(text)
    chip = apple_chip(sc.get("machdep.cpu.brand_string", ""))
    if chip is None:
        return None
    cores = parse_gpu_cores(run(["system_profiler", "SPDisplaysDataType", "-json"]) or "")
    wired = int(sc.get("iogpu.wired_limit_mb", "0") or 0)
    return {"chip": sc["machdep.cpu.brand_string"], "chip_id": chip, "gpu_cores": cores,
            "memory_bytes": int(sc.get("hw.memsize", "0")),
            "p_cores": int(sc.get("hw.perflevel0.physicalcpu", "0") or 0),
            "e_cores": int(sc.get("hw.perflevel1.physicalcpu", "0") or 0),
            "wired_limit_mb": wired or None}


def probe_nvidia(run=_run) -> list[dict]:
    """NVIDIA GPUs via nvidia-smi (empty when there is none)."""
    from tokbench.env.parse import nvidia_catalog_id, parse_nvidia_smi

    text = run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"])
    gpus = parse_nvidia_smi(text or "")
    for g in gpus:
        g["catalog_id"] = nvidia_catalog_id(g["name"], g["memory_mib"])
    return gpus


def _linux_cpu(sys_cpu: str = "/sys/devices/system/cpu/cpu0") -> dict:
    from tokbench.env.parse import last_level_cache_mib, parse_cpu_facts, parse_cpuinfo, parse_meminfo

    def read(p):
        try:
            return Path(p).read_text()
        except OSError:
            return ""

    cpuinfo = read("/proc/cpuinfo")
    facts = parse_cpu_facts(cpuinfo)
    caches = [{f: read(d / f) for f in ("level", "type", "size")} for d in sorted(Path(sys_cpu, "cache").glob("index*"))]
    facts["llc_mib"] = last_level_cache_mib(caches)  # the speed model's cache-resident weights
    return {"cpu": parse_cpuinfo(cpuinfo) or platform.processor() or platform.machine(),
            "memory_bytes": parse_meminfo(read("/proc/meminfo")), "cpu_facts": facts}


def probe_host(measure: bool = True, run=_run) -> dict:
    """CPU, RAM, Apple chip, NVIDIA GPUs and (``measure``) memory bandwidth of this machine."""
    import os

    info: dict = {"os": platform.system(), "machine": platform.machine(), "cpu_count": os.cpu_count()}
    apple = probe_apple(run) if platform.system() == "Darwin" or run is not _run else None
    info["apple"] = apple
    if apple:
        info.update(cpu=apple["chip"], memory_bytes=apple["memory_bytes"])
    else:
        info.update(_linux_cpu())
    info["nvidia"] = probe_nvidia(run)
    if measure:
        from tokbench.env.bandwidth import measure_bandwidth, measure_matmul_tflops

        info["bandwidth"] = measure_bandwidth()
        info["compute"] = measure_matmul_tflops()
        if not (info["nvidia"] or apple):
            from tokbench.env.bandwidth import measure_cache_mib

            info["cache"] = measure_cache_mib((info.get("cpu_facts") or {}).get("llc_mib"))
    if not measure and not (info["nvidia"] or apple):
        # An unrecognized CPU host: its Hardware needs a bandwidth measurement (seconds), which
        # measure=False promises not to make (tokbench bench records the host before every run).
        mem_gb = round((info.get("memory_bytes") or 0) / 2**30, 1)
        info["hardware"] = {"id": "host", "label": f"host:{mem_gb:g}", "kind": "cpu", "bandwidth_gbs": None,
                            "memory_gb": mem_gb, "in_catalog": False}
        return info
    hw = host_hardware(info, local=measure and run is _run, fresh_probe=True)
    if hw.kernel_probe is not None:
        from dataclasses import asdict

        info["kernels"] = asdict(hw.kernel_probe)
    info["hardware"] = {"id": hw.id, "label": hw.label, "kind": hw.kind, "bandwidth_gbs": hw.bandwidth_gbs,
                        "memory_gb": hw.memory_gb, "in_catalog": hw.id != "host"}
    return info


def _apple_hardware(apple: dict):
    from tokbench.catalog.hardware import catalog, get_hardware

    chip, cores = apple["chip_id"], apple.get("gpu_cores")
    cat = catalog()
    hw_id = f"{chip}-{cores}c" if cores and f"{chip}-{cores}c" in cat else chip
    try:
        hw = get_hardware(hw_id, largest_variant=True)  # GPU cores unknown: as before, the largest variant
    except Exception:  # noqa: BLE001 - a chip newer than the catalog: fall back to the CPU description
        return None
    return replace(hw, memory_gb=round(apple["memory_bytes"] / 2**30)) if apple.get("memory_bytes") else hw


def host_hardware(info: dict | None = None, local: bool | None = None, progress=None,
                  fresh_probe: bool | str = False):
    """The Hardware of this host (catalog entry when recognized, else kind "cpu" with measured bandwidth).

    ``local`` (default: when ``info`` is None, i.e. probed here and now): ``info`` describes this machine,
    so a CPU host also gets the cache this process gets and llama.cpp's kernels timed on the threads
    tokbench's engine uses (:mod:`tokbench.env.kernels`, cached per host); ``progress(text)`` is told
    before a probe that takes seconds; ``fresh_probe`` times the kernels once more even when probes are
    kept (True: `tokbench hw probe`; "stale": when few or old, `tokbench bench`; see host_probe). A
    recorded ``info`` of another machine gets neither."""
    from tokbench.catalog.hardware import Hardware, get_hardware

    local = info is None if local is None else local
    info = info if info is not None else probe_host(measure=False)
    for g in info.get("nvidia") or []:
        if g.get("catalog_id"):
            return replace(get_hardware(g["catalog_id"]), memory_gb=round(g["memory_mib"] / 1024))
    if info.get("apple"):
        hw = _apple_hardware(info["apple"])
        if hw is not None:
            return hw
    measured = info.get("bandwidth") or {}
    if measured.get("bandwidth_gbs") is None:
        from tokbench.env.bandwidth import measure_bandwidth

        measured = measure_bandwidth()
    bw = measured["bandwidth_gbs"]
    one_core = (measured.get("by_threads") or {}).get("1")  # what one core reads: few threads stream no more
    tflops = (info.get("compute") or {}).get("tflops")
    if tflops is None:
        from tokbench.env.bandwidth import measure_matmul_tflops

        tflops = measure_matmul_tflops()["tflops"]
    mem_gb = (info.get("memory_bytes") or 0) / 2**30
    facts = info.get("cpu_facts") or {}
    probe = None
    if local:
        from tokbench.engines.llamacpp import default_threads
        from tokbench.env.kernels import host_probe

        # the cache measured just now by probe_host, when it did, is the one this probe keeps
        probe = host_probe(default_threads(), progress, refresh=fresh_probe, llc_mib=facts.get("llc_mib"),
                           cache=info["cache"] if "cache" in info else False)
    # the cache this process gets: the kept probes' median, else measured now (a local host without
    # llama.cpp), else what the CPU reports
    cache = info.get("cache")
    if probe is None and cache is None and local and "cache" not in info:
        from tokbench.env.bandwidth import measure_cache_mib

        cache = measure_cache_mib(facts.get("llc_mib"))
    llc = (probe.cache_mib if probe is not None and probe.cache_mib else None) or (cache or {}).get("cache_mib") \
        or facts.get("llc_mib")
    return Hardware(id="host", name=info.get("cpu") or "this machine", vendor="", kind="cpu", unified_memory=True,
                    bandwidth_gbs=bw, memory_gb=round(mem_gb, 1), memory_options_gb=(round(mem_gb, 1),),
                    fp16_tflops=tflops, memory_type="DDR", generation=facts.get("generation") or "cpu",
                    compute_units=facts.get("cores") or info.get("cpu_count"), clock_mhz=facts.get("clock_mhz"),
                    core_bandwidth_gbs=one_core, llc_mib=llc, kernel_probe=probe,
                    notes="bandwidth, matmul rate and the cache this process gets measured by tokbench hw probe"
                          f"{', llama.cpp kernels timed' if probe else ''}; cores and clock from /proc/cpuinfo",
                    source="tokbench.env.probe_host")


__all__ = ["probe_host", "host_hardware", "probe_apple", "probe_nvidia"]
