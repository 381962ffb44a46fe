"""Plans on a probed CPU host: the fitted parameters rescaled to its timed llama.cpp kernels."""

from dataclasses import asdict, replace

import pytest

from tokbench.catalog.calibration import get_calibration
from tokbench.catalog.hardware import Hardware, get_hardware
from tokbench.env.kernels import BATCH, BLOCK_QUANT, LARGE, PROBE_QUANT, SMALL, KernelProbe
from tokbench.plan import _weights, estimate
from tokbench.plan.host import factors, for_host, prefill_scaled, scaled
from tokbench.plan.speed import prefill_seconds_per_token, step_parts
from tokbench.synth import DEFAULT_SPEC

HOST = Hardware(id="host", name="Intel(R) Xeon(R) Processor", vendor="", kind="cpu", unified_memory=True,
                bandwidth_gbs=30.1, memory_gb=23.5, memory_options_gb=(23.5,), fp16_tflops=0.2, memory_type="DDR",
                generation="cpu-x86-avx512", compute_units=2, clock_mhz=2100.0, core_bandwidth_gbs=16.5, llc_mib=64.0)


def _probe_from(k, hw, c, a, m, b, p, blk=None, threads=1):
    """What a host whose kernels differ from the fit by these factors would time."""
    at = hw.on_threads(threads)
    kk = prefill_scaled(scaled(k, c, a, m, b, blk), p)
    small, large = _weights(SMALL, PROBE_QUANT)[1], _weights(LARGE, PROBE_QUANT)[1]
    blocks = _weights(SMALL, BLOCK_QUANT)[1]
    return KernelProbe(threads=threads, engine_version="llama-cpp-python test",
                       small_lo_s=step_parts(SMALL, small, at, kk, 16).total,
                       small_hi_s=step_parts(SMALL, small, at, kk, 2048).total,
                       large_lo_s=step_parts(LARGE, large, at, kk, 16).total,
                       batch_lo_s=step_parts(SMALL, small, at, kk, 16, concurrency=BATCH).total,
                       prompt_s=2048 * prefill_seconds_per_token(SMALL, small, at, kk, 1024),
                       block_lo_s=step_parts(SMALL, blocks, at, kk, 16).total)


def test_the_factors_reproduce_the_probe_they_were_solved_from():
    k = get_calibration(HOST, "llama.cpp")
    truth = (1.6, 2.5, 0.7, 1.3, 2.0, 1.1)
    probe = _probe_from(k, HOST, *truth)
    got = factors(k, HOST, probe)
    assert got == pytest.approx(truth, rel=0.03)
    same = _probe_from(k, HOST, 1, 1, 1, 1, 1, 1)
    assert factors(k, HOST, same) == pytest.approx((1, 1, 1, 1, 1, 1), rel=0.03)  # a host like its fit: unchanged
    # the block kernels timed apart: a Q4_0 model is rescaled by its own class, not by the K-quants'
    q4 = _weights(DEFAULT_SPEC, "Q4_0")[1]
    kk = scaled(k, 1.6, 2.5, 0.7, 1.3, 1.1)
    assert kk.rho_class["block"] == pytest.approx(1.1 * k.rho_class["block"])
    assert kk.rho_class["kquant"] == pytest.approx(1.6 * k.rho_class["kquant"])
    assert kk.rho_class["table"] == k.rho_class["table"]  # a class the probe did not time keeps the fit's rate
    assert step_parts(DEFAULT_SPEC, q4, HOST, kk, 16).weights > step_parts(DEFAULT_SPEC, q4, HOST, scaled(k, 1.6, 2.5, 0.7, 1.3), 16).weights


def test_a_low_cache_figure_does_not_move_the_factors():
    # This VM's probes read the cache this process gets at 16 to 128 MiB while the small model's steps kept
    # the cache's speed; the plan carries the least. Solved as read from memory at 16 MiB, the small model's
    # cache-speed steps put the kernel factors at the clamp (x8); it is solved as the resident model it is.
    k = get_calibration(HOST, "llama.cpp")
    truth = (1.6, 2.5, 0.7, 1.3, 2.0, 1.1)
    probe = _probe_from(k, HOST, *truth)
    low = replace(HOST, llc_mib=16.0)
    assert factors(k, low, probe) == pytest.approx(truth, rel=0.03)
    assert factors(k, replace(HOST, llc_mib=None), probe) == pytest.approx(truth, rel=0.03)


def test_a_probed_host_plans_on_its_own_kernels():
    k = get_calibration(HOST, "llama.cpp")
    hw = replace(HOST, kernel_probe=_probe_from(k, HOST, 1.6, 2.5, 0.7, 1.3, 2.0))
    plain = estimate(DEFAULT_SPEC, "Q4_K_M", HOST.on_threads(1), context=1024)
    probed = estimate(DEFAULT_SPEC, "Q4_K_M", hw.on_threads(1), context=1024)
    assert probed.decode_tps > 1.3 * plain.decode_tps  # faster kernels and attention than the generation's fit
    assert probed.prefill_tps > 1.5 * plain.prefill_tps
    assert probed.calibration["level_text"] == "calibrated on this host"
    assert "rescaled to this host's llama.cpp kernels" in probed.calibration["basis"]
    assert any("calibrated on this host" in n for n in probed.notes)
    # A run stored by bench keeps the probe as JSON: read back, it plans the same
    stored = replace(hw, kernel_probe=asdict(hw.kernel_probe))
    assert estimate(DEFAULT_SPEC, "Q4_K_M", stored.on_threads(1), context=1024).decode_tps == pytest.approx(probed.decode_tps)


def test_only_llama_cpp_on_a_probed_cpu_is_rescaled():
    k = get_calibration(HOST, "llama.cpp")
    probe = _probe_from(k, HOST, 1.6, 2.5, 0.7, 1.3, 2.0)
    assert for_host(k, HOST, "llama.cpp") is k  # no probe
    mlx = get_calibration(HOST, "mlx")
    assert for_host(mlx, replace(HOST, kernel_probe=probe), "mlx") is mlx  # MLX's CPU kernels were not timed
    gpu = get_hardware("h200")
    kg = get_calibration(gpu, "llama.cpp")
    assert for_host(kg, replace(gpu, kernel_probe=probe), "llama.cpp") is kg
    server = for_host(get_calibration(HOST, "llama.cpp-server"), replace(HOST, kernel_probe=probe), "llama.cpp-server")
    assert server.level == "host"  # llama-server runs the same kernels


def test_an_in_process_sweep_stalls_decoding_streams_with_other_prompts():
    # tokbench's engine batches 512 tokens: 8 prompts of 256 start 2 by 2 and stall the streams already
    # decoding; llama-server's 2048 take them in one batch (all start together, no stall)
    kw = dict(context=320, depth=288, concurrency=8, prompt_tokens=256, gen_tokens=64, requests=16)
    inproc = estimate(DEFAULT_SPEC, "Q4_K_M", HOST.on_threads(1), engine="llama.cpp", **kw)
    assert inproc.per_stream_decode_tps < 0.8 * inproc.step_decode_tps
    server = estimate(DEFAULT_SPEC, "Q4_K_M", HOST.on_threads(1), engine="llama.cpp-server", **kw)
    assert server.per_stream_decode_tps == pytest.approx(server.step_decode_tps, rel=0.02)


def test_a_moe_stays_in_the_cache_only_when_all_its_experts_do():
    from tokbench.modelspec import load_spec
    from tokbench.synth import prepare

    k = get_calibration(HOST, "llama.cpp")
    cached, uncached = replace(HOST, llc_mib=128.0), replace(HOST, llc_mib=None)
    moe = prepare(load_spec("qwen3-30b-a3b"), 1, None)  # 36 MB a token of 388 MiB: other experts each token
    w = _weights(moe, "Q4_K_M")[1]
    assert step_parts(moe, w, cached, k, 128).weights == step_parts(moe, w, uncached, k, 128).weights
    dense = prepare(load_spec("qwen3-4b"), 1, 0.5)  # 17 MiB, all of it every token
    w = _weights(dense, "Q4_K_M")[1]
    assert step_parts(dense, w, cached, k, 128).weights < step_parts(dense, w, uncached, k, 128).weights  # read from the cache
