"""Host probes: macOS and NVIDIA paths from recorded tool outputs, the Linux path for real."""

from pathlib import Path

import pytest

from tokbench.env import host_hardware, probe_apple, probe_host, probe_nvidia
from tokbench.env.parse import apple_chip, nvidia_catalog_id, parse_gpu_cores, parse_meminfo, parse_sysctl

FIX = Path(__file__).parent / "fixtures"


def fake_run(files: dict[str, str]):
    """A ``run`` that answers each command (by its first word) with a fixture file's text."""
    def run(cmd, timeout=10.0):  # noqa: ARG001 - same signature as tokbench.env._run
        name = files.get(cmd[0])
        return (FIX / name).read_text() if name else None
    return run


MAC = {"sysctl": "sysctl_m3_ultra.txt", "system_profiler": "system_profiler_displays_m3_ultra.json"}


def test_parsers():
    assert parse_sysctl("hw.memsize: 1024\niogpu.wired_limit_mb = 0")["iogpu.wired_limit_mb"] == "0"
    assert apple_chip("Apple M3 Ultra") == "m3-ultra" and apple_chip("Apple M4") == "m4"
    assert apple_chip("Intel(R) Core(TM) i9") is None
    assert parse_gpu_cores((FIX / "system_profiler_displays_m3_ultra.json").read_text()) == 80
    assert parse_gpu_cores("not json") is None
    assert parse_meminfo("MemTotal:       24684092 kB\n") == 24684092 * 1024
    assert nvidia_catalog_id("NVIDIA A100-SXM4-40GB", 40960) == "a100-40gb"
    assert nvidia_catalog_id("NVIDIA GeForce RTX 4090", 24564) == "rtx-4090"
    assert nvidia_catalog_id("Tesla T4", 15360) is None


def test_macos_m3_ultra_maps_to_catalog():
    apple = probe_apple(fake_run(MAC))
    assert apple["chip_id"] == "m3-ultra" and apple["gpu_cores"] == 80 and apple["p_cores"] == 24
    assert apple["wired_limit_mb"] is None  # 0 = macOS default
    info = probe_host(measure=False, run=fake_run(MAC))
    hw = host_hardware(info)
    assert hw.id == "m3-ultra-80c" and hw.memory_gb == 256 and info["hardware"]["in_catalog"]


def test_macos_chip_without_core_variants_and_raised_limit():
    apple = probe_apple(fake_run({"sysctl": "sysctl_m1_pro_raised.txt"}))
    assert apple["wired_limit_mb"] == 28000 and apple["gpu_cores"] is None
    hw = host_hardware({"apple": apple, "nvidia": []})
    assert hw.id == "m1-pro" and hw.memory_gb == 32


def test_nvidia_h100_maps_to_catalog():
    gpus = probe_nvidia(fake_run({"nvidia-smi": "nvidia_smi_h100.csv"}))
    assert gpus == [{"name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559.0, "driver": "550.54.15",
                     "catalog_id": "h100-sxm"}]
    assert host_hardware({"nvidia": gpus, "apple": None}).id == "h100-sxm"


def test_no_tools_means_no_apple_and_no_gpu():
    assert probe_apple(fake_run({})) is None and probe_nvidia(fake_run({})) == []


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="Linux only")
def test_linux_probe_for_real_measures_bandwidth():
    info = probe_host(measure=True)
    assert info["memory_bytes"] > 2**30 and info["cpu"]
    bw = info["bandwidth"]["bandwidth_gbs"]
    assert 1 < bw < 2000  # a plausible host memory bandwidth, GB/s
    hw = host_hardware(info)
    if not info["nvidia"]:
        assert hw.kind == "cpu" and hw.bandwidth_gbs == bw and hw.id == "host"
        from tokbench.plan import estimate

        row = estimate("llama-3.1-8b", "Q4_K_M", hw, context=4096)
        assert row.decode_tps_ceiling == pytest.approx(bw * 1e9 / row.bytes_per_token)


def test_last_level_cache_from_a_recorded_sysfs(tmp_path):
    """This project's 2-vCPU EPYC VM's /sys/devices/system/cpu/cpu0/cache, as recorded (L1d, L1i, L2, L3)."""
    from tokbench.env import _linux_cpu
    from tokbench.env.parse import last_level_cache_mib, parse_cache_size

    recorded = {"index0": ("1", "Data", "32K"), "index1": ("1", "Instruction", "32K"),
                "index2": ("2", "Unified", "512K"), "index3": ("3", "Unified", "32768K")}
    for name, (level, kind, size) in recorded.items():
        d = tmp_path / "cache" / name
        d.mkdir(parents=True)
        for f, v in (("level", level), ("type", kind), ("size", size)):
            (d / f).write_text(v + "\n")
    assert _linux_cpu(str(tmp_path))["cpu_facts"]["llc_mib"] == 32.0
    assert parse_cache_size("300M") == 300.0 and parse_cache_size("1G") == 1024.0 and parse_cache_size("") is None
    assert last_level_cache_mib([{"level": "1", "type": "Instruction", "size": "64K"}]) is None  # never an I-cache
    assert _linux_cpu(str(tmp_path / "none"))["cpu_facts"]["llc_mib"] is None  # no sysfs: no cache term


def test_a_probed_host_knows_one_cores_bandwidth_and_its_cache():
    info = {"cpu": "AMD EPYC", "cpu_count": 2, "memory_bytes": 24 * 2**30, "nvidia": [],
            "cpu_facts": {"cores": 2, "clock_mhz": 2445.0, "generation": "cpu-x86-avx2", "llc_mib": 32.0},
            "bandwidth": {"bandwidth_gbs": 19.57, "by_threads": {"1": 12.83, "2": 19.57}}, "compute": {"tflops": 0.13}}
    hw = host_hardware(info)
    assert (hw.core_bandwidth_gbs, hw.llc_mib) == (12.83, 32.0)
    assert hw.on_threads(1).core_bandwidth_gbs == 12.83  # a thread count changes the cores, not what one reads
    del info["bandwidth"]["by_threads"], info["cpu_facts"]["llc_mib"]
    assert (host_hardware(info).core_bandwidth_gbs, host_hardware(info).llc_mib) == (None, None)


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="Linux only")
def test_the_bench_path_measures_one_cores_bandwidth_too():
    # tokbench bench builds the host with probe_host(measure=False) and measures the bandwidth inside
    # host_hardware: the one-core figure must come with it, or the bench's estimate would use another model.
    info = probe_host(measure=False)
    if info["nvidia"]:
        pytest.skip("a GPU host maps to its catalog entry")
    hw = host_hardware(info)
    assert hw.core_bandwidth_gbs and 0 < hw.core_bandwidth_gbs <= hw.bandwidth_gbs
