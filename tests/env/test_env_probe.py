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
