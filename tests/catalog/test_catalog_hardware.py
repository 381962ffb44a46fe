import pytest

from tokbench.catalog.hardware import catalog, get_hardware
from tokbench.errors import UserError

ISSUE_IDS = """m1 m1-pro m1-max m1-ultra m2 m2-pro m2-max m2-ultra-60c m2-ultra-76c m3 m3-pro m3-max-30c
m3-max-40c m3-ultra-60c m3-ultra-80c m4 m4-pro m4-max-32c m4-max-40c h100-sxm h100-pcie h200 a100-40gb
a100-80gb-sxm a100-80gb-pcie rtx-3090 rtx-4090 rtx-5090 dgx-spark ryzen-ai-max-395""".split()


def test_every_issue_hardware_id_is_in_the_catalog():
    assert set(ISSUE_IDS) <= set(catalog())


def test_memory_option_and_default_largest():
    hw = get_hardware("m3-ultra-80c:256")
    assert hw.memory_gb == 256 and hw.bandwidth_gbs == 819
    assert get_hardware("m3-ultra-80c").memory_gb == 512


@pytest.mark.parametrize("name,choices", [("m3-ultra", "m3-ultra-60c, m3-ultra-80c"),
                                          ("m4-max", "m4-max-32c, m4-max-40c"), ("h100", "h100-pcie, h100-sxm"),
                                          ("a100", "a100-40gb, a100-80gb-pcie, a100-80gb-sxm")])
def test_ambiguous_names_list_the_choices(name, choices):
    with pytest.raises(UserError, match=f"hardware '{name}' is ambiguous; choose one of: {choices}$"):
        get_hardware(name)


def test_data_without_a_core_count_may_ask_for_the_largest_variant():
    assert get_hardware("m3-ultra", largest_variant=True).id == "m3-ultra-80c"
    assert get_hardware("m4-max:64", largest_variant=True).id == "m4-max-40c"
    with pytest.raises(UserError, match="ambiguous"):
        get_hardware("h100", largest_variant=True)  # SXM and PCIe are different parts, not core counts


def test_a_prefix_naming_one_part_resolves():
    assert get_hardware("dgx").id == "dgx-spark" and get_hardware("ryzen:64").memory_gb == 64
    assert get_hardware("m3").id == "m3"  # an exact id is never ambiguous


def test_host_is_the_probed_machine(monkeypatch):
    from tokbench.catalog import hardware as mod
    from tokbench.env import host_hardware

    probe = {"os": "Linux", "machine": "x86_64", "cpu": "Test CPU", "memory_bytes": 16 * 2**30, "apple": None,
             "nvidia": [], "bandwidth": {"bandwidth_gbs": 20.0}, "compute": {"tflops": 0.5}}
    mod._host.cache_clear()
    monkeypatch.setattr("tokbench.env.host_hardware", lambda info=None, **kw: host_hardware(probe))
    try:
        hw = get_hardware("host")
        assert (hw.id, hw.kind, hw.bandwidth_gbs, hw.label) == ("host", "cpu", 20.0, "host:16")
        assert get_hardware("HOST:12").label == "host:12"  # any size: the memory to plan with
        with pytest.raises(UserError, match="bad memory size"):
            get_hardware("host:-1")
    finally:
        mod._host.cache_clear()


def test_unsold_memory_size_is_a_user_error():
    with pytest.raises(UserError, match="not sold with 192 GB"):
        get_hardware("m3-ultra-80c:192")


def test_unknown_hardware_names_close_matches():
    with pytest.raises(UserError, match="m3-ultra-80c"):
        get_hardware("m3-ultra-80")


def test_a_cpu_on_fewer_threads_has_fewer_units_and_a_share_of_its_matmul_rate():
    from tokbench.catalog.hardware import Hardware

    cpu = Hardware(id="host", name="x", vendor="", kind="cpu", unified_memory=True, bandwidth_gbs=20.0,
                   memory_gb=24.0, memory_options_gb=(24.0,), fp16_tflops=0.2, generation="cpu-x86-avx2",
                   compute_units=4, clock_mhz=2500.0)
    one = cpu.on_threads(1)
    assert (one.compute_units, one.fp16_tflops, one.unit_clock_hz) == (1, pytest.approx(0.05), 2.5e9)
    assert one.bandwidth_gbs == cpu.bandwidth_gbs  # the memory is the same; bw_core caps what 1 core streams
    assert cpu.on_threads(None) is cpu and cpu.on_threads(8) is cpu
    gpu = get_hardware("h100-sxm")
    assert gpu.on_threads(1) is gpu
