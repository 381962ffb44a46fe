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


def test_read_probe_starts_its_threads_before_the_clock(monkeypatch):
    # Spawning threads inside the timed region cost the copy probe a third of the lent 32-vCPU Xeon's
    # bandwidth. Here a pool whose first use takes 0.3 s (its threads starting) must not show in the figure.
    import time
    from concurrent.futures import ThreadPoolExecutor

    from tokbench.env import bandwidth

    class SlowStartPool(ThreadPoolExecutor):
        def map(self, fn, *its):
            if not getattr(self, "started", False):  # each new pool's first use
                self.started = True
                time.sleep(0.3)
            return super().map(fn, *its)

    monkeypatch.setattr(bandwidth, "ThreadPoolExecutor", SlowStartPool)
    r = bandwidth.measure_bandwidth(mib=64, repeats=1, max_threads=2)
    assert "read" in r["method"] and set(r["by_threads"]) == {"1", "2"}
    assert r["bandwidth_gbs"] == max(r["by_threads"].values())
    assert r["by_threads"]["2"] > 64 * 2**20 / 0.3 / 1e9 * 3  # the 0.3 s start is not in any timed read


def test_read_probe_array_stays_small_on_a_small_machine(monkeypatch):
    from tokbench.env import bandwidth

    monkeypatch.setattr(bandwidth.os, "sysconf", lambda name: 4096 if name == "SC_PAGE_SIZE" else 2**30 // 4096)
    assert bandwidth._array_mib(1024) == 64  # 1 GiB of memory: 1/16 of it, never below 64 MiB
