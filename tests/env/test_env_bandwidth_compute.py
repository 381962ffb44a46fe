from tokbench.env.bandwidth import measure_matmul_tflops


def test_matmul_rate_is_a_plausible_positive_figure():
    r = measure_matmul_tflops(n=256, repeats=2)
    # Any CPU that runs this suite does more than 0.1 GFLOP/s and less than 1 PFLOP/s in float32.
    assert 1e-4 < r["tflops"] < 1000
    assert "matmul" in r["method"]


def test_host_hardware_carries_the_measured_compute_rate():
    from tokbench.env import host_hardware

    info = {"os": "Linux", "cpu": "test cpu", "memory_bytes": 8 * 2**30, "nvidia": [], "apple": None,
            "bandwidth": {"bandwidth_gbs": 20.0}, "compute": {"tflops": 0.5}}
    hw = host_hardware(info)
    assert (hw.kind, hw.bandwidth_gbs, hw.fp16_tflops, hw.memory_gb) == ("cpu", 20.0, 0.5, 8.0)
