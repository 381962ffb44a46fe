"""The planner hardware a bench's estimate assumes (tokbench.bench.lifecycle.planner_hardware)."""

from __future__ import annotations

import pytest

from tokbench.bench import lifecycle
from tokbench.bench.job import BenchJob, RunSpec, Target
from tokbench.catalog.hardware import Hardware

HOST = Hardware(id="host", name="test cpu", vendor="", kind="cpu", unified_memory=True, bandwidth_gbs=20.0,
                memory_gb=24.0, memory_options_gb=(24.0,), fp16_tflops=0.2, generation="cpu-x86-avx2",
                compute_units=8, clock_mhz=2500.0)


@pytest.fixture
def host(monkeypatch):
    monkeypatch.setattr(lifecycle, "_HOST", [HOST])


def _hw(engine: str, threads: int | None = None, endpoint: str | None = None, hardware: str | None = None):
    spec = RunSpec(target=Target(engine=engine, threads=threads, endpoint=endpoint))
    return lifecycle.planner_hardware(BenchJob(runs=(spec,), hardware=hardware), spec)


def test_in_process_llama_cpp_is_planned_on_the_threads_it_runs(host, monkeypatch):
    # The in-process engine leaves a core to the client: its estimate must not assume every core.
    monkeypatch.setattr("tokbench.engines.llamacpp.default_threads", lambda: 7)
    assert _hw("llama.cpp").compute_units == 7
    assert _hw("llama.cpp", threads=2).compute_units == 2
    assert _hw("llama.cpp", threads=2).fp16_tflops == pytest.approx(0.05)


def test_launched_llama_cpp_server_uses_its_own_default(host, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert _hw("llama.cpp-server").compute_units == 4  # llama-cpp-python's server: cpu_count // 2


def test_other_engines_endpoints_and_named_hardware_are_left_alone(host):
    assert _hw("mlx").compute_units == 8
    assert _hw("openai", endpoint="http://127.0.0.1:1/v1") is None
    assert _hw("llama.cpp", hardware="h100-sxm").id == "h100-sxm"
