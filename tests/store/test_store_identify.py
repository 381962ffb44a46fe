"""Identifying what an imported file measured: catalog model and quant from exact sizes, hardware
from the device names a tool printed."""

from __future__ import annotations

import pytest

from tokbench.errors import UserError
from tokbench.store.identify import (check_hardware_override, hardware_from_name, llama_devices, llama_version,
                                     match_model, parse_model_override)

# From the H200 llama-bench fixture (tests/store/fixtures/llama-bench-h200.jsonl).
LLAMA8B_PARAMS = 8030261248
SIZES = {"Q4_K_M": 4912898048, "Q8_0": 8532934656, "F16": 16061054976}


def test_model_and_quant_from_exact_sizes():
    m, q = match_model(LLAMA8B_PARAMS, SIZES["Q4_K_M"], "llama 8B whatever", "/x/model.gguf")
    assert (m.value, q.value) == ("llama-3.1-8b", "Q4_K_M")
    assert (m.extra["matched"], q.extra["matched"]) == ("model_n_params", "model_size")


def test_equal_sizes_need_the_text():
    # F16 and BF16 weigh the same (and MXFP4_MOE is Q8_0 on a dense model): the bytes name both,
    # the tool's own text picks one.
    _, q = match_model(LLAMA8B_PARAMS, SIZES["F16"], "llama 8B F16", "m.gguf")
    assert q.value == "F16" and q.extra["matched"] == "model_size+model_type"
    _, q = match_model(LLAMA8B_PARAMS, SIZES["Q8_0"], "llama 8B Q8_0", "m.gguf")
    assert q.value == "Q8_0"
    _, q = match_model(LLAMA8B_PARAMS, SIZES["F16"], "llama 8B", "m.gguf")
    assert q.value is None and "F16 and BF16" in q.reason


def test_sizes_win_over_the_name():
    # A file whose text calls it Q8_0 but whose bytes are Q4_K_M's: the bytes decide.
    _, q = match_model(LLAMA8B_PARAMS, SIZES["Q4_K_M"], "llama 8B Q8_0", "llama-3.1-8b-Q8_0.gguf")
    assert q.value == "Q4_K_M"


def test_unknown_sizes_say_why():
    m, q = match_model(1234567, 999, "llama 1M Q4_K - Medium", "tiny.gguf")
    assert m.value is None and "match no catalog model" in m.reason
    assert q.value == "Q4_K_M"  # the tool's text still names the quant
    m, q = match_model(LLAMA8B_PARAMS, 123, "llama 8B", "x.gguf")
    assert m.value == "llama-3.1-8b" and q.value is None and "match no llama.cpp preset" in q.reason
    m, _ = match_model(None, None, "", "")
    assert m.value is None and "model_n_params" in m.reason


@pytest.mark.parametrize("name,hw", [("NVIDIA H200", "h200"), ("NVIDIA H100 80GB HBM3", "h100-sxm"),
                                     ("NVIDIA GeForce RTX 4090", "rtx-4090"), ("NVIDIA GeForce RTX 4080 SUPER", "rtx-4080-super"),
                                     ("NVIDIA A100-SXM4-80GB", "a100-80gb-sxm"), ("Apple M4 Pro", "m4-pro"),
                                     ("AMD Ryzen AI Max+ 395", "ryzen-ai-max-395")])
def test_hardware_from_device_names(name, hw):
    assert hardware_from_name(name).value == hw


def test_cpu_names_are_the_cpu_entries():
    assert hardware_from_name("AMD Ryzen AI Max+ 395", cpu=True).value == "cpu-ryzen-ai-max-395"
    assert hardware_from_name("AMD Ryzen 9 7950X", cpu=True).value == "cpu-ryzen-9-7950x"
    assert "not in the hardware catalog" in hardware_from_name("Intel(R) Xeon(R) Processor", cpu=True).reason


@pytest.mark.parametrize("name,why", [("NVIDIA A100-SXM4", "unknown memory size"), ("Apple M3 Ultra", "ambiguous"),
                                      ("NVIDIA Tesla K80", "not in the hardware catalog"), ("", "names no device")])
def test_hardware_not_identified(name, why):
    f = hardware_from_name(name)
    assert f.value is None and why in f.reason


def test_devices_and_topology():
    row = {"gpu_info": "NVIDIA H200", "cpu_info": "Intel(R) Xeon(R) Processor", "backends": "CUDA", "n_gpu_layers": 99,
           "split_mode": "layer"}
    assert (llama_devices(row)[0].value, *llama_devices(row)[1:]) == ("h200", 1, None)
    two = {**row, "gpu_info": "NVIDIA H200, NVIDIA H200"}
    assert llama_devices(two)[1:] == (2, "pipeline")
    assert llama_devices({**two, "split_mode": "row"})[1:] == (2, "tensor")
    assert llama_devices({**two, "split_mode": "none"})[1:] == (1, None)
    cpu = llama_devices({**row, "n_gpu_layers": 0})  # layers on the CPU: the CPU is what was measured
    assert cpu[1] == 0 and "Xeon" in cpu[0].reason
    hw, gpus, _ = llama_devices({**row, "backends": "CPU", "cpu_info": "AMD Ryzen 9 7950X"})
    assert (hw.value, gpus) == ("cpu-ryzen-9-7950x", 0)
    assert "mixed GPUs" in llama_devices({**row, "gpu_info": "NVIDIA H200, NVIDIA H100 80GB HBM3"})[0].reason


def test_version_and_overrides():
    assert llama_version({"build_commit": "abc1234", "build_number": 6123}) == "b6123 (abc1234)"
    assert llama_version({"build_commit": "unknown", "build_number": 0}) == ""
    assert parse_model_override("llama-3.1-8b:q4_k_m") == ("llama-3.1-8b", "Q4_K_M")
    assert parse_model_override("llama-3.1-8b") == ("llama-3.1-8b", None)
    with pytest.raises(UserError, match="did you mean"):
        parse_model_override("llama-3.1-8c")
    assert check_hardware_override("h200") == "h200"
    with pytest.raises(UserError, match="did you mean"):
        check_hardware_override("h20O")
    with pytest.raises(UserError, match="this machine"):
        check_hardware_override("host")
