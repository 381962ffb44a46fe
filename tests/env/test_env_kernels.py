"""The llama.cpp kernel probe: real llama.cpp on this machine, its cache, and the cache-size probe."""

import json

import pytest

from tokbench.env import kernels
from tokbench.env.bandwidth import measure_cache_mib


def test_the_probe_times_llama_cpp_kernels_on_this_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKBENCH_CACHE_DIR", str(tmp_path))
    p = kernels.measure(threads=1, steps=8)
    assert p.threads == 1 and p.engine_version.startswith("llama-cpp-python")
    assert "AVX" in p.isa or "NEON" in p.isa or "SSE" in p.isa  # what the CPU backend was compiled for
    # Depth 2048 attends 128x the cells of depth 16; the large model reads 15x the small one's weights;
    # 8 sequences do 8x the columns: each figure is above the small model's one-token step.
    assert p.small_hi_s > 1.2 * p.small_lo_s
    assert p.large_lo_s > 2 * p.small_lo_s
    assert p.batch_lo_s > p.small_lo_s
    assert p.prompt_s > 10 * p.small_lo_s  # 2048 prompt tokens
    assert "14 MB model" in p.describe() and "1 thread," in p.describe()
    names = sorted(f.name.rsplit("-", 1)[0] for f in tmp_path.glob("models/*.gguf"))
    assert names == sorted([f"{kernels.LARGE.name}-{kernels.PROBE_QUANT}", f"{kernels.SMALL.name}-{kernels.PROBE_QUANT}",
                            f"{kernels.SMALL.name}-{kernels.BLOCK_QUANT}"])  # synthesized once, kept in the cache
    assert p.block_lo_s > 0


def _fake(threads, steps=kernels.STEPS):
    return kernels.KernelProbe(threads=threads, engine_version="llama-cpp-python test", small_lo_s=0.001,
                               small_hi_s=0.003, large_lo_s=0.03, batch_lo_s=0.007, prompt_s=3.0)


def test_a_host_is_probed_once_per_thread_count_and_the_cache_survives_damage(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKBENCH_CACHE_DIR", str(tmp_path))
    calls, said = [], []
    monkeypatch.setattr(kernels, "measure", lambda threads, **kw: calls.append(threads) or _fake(threads))
    first = kernels.host_probe(1, progress=said.append)
    assert first == _fake(1) and calls == [1] and "timing llama.cpp's kernels" in said[0]
    assert kernels.host_probe(1) == first and calls == [1]  # cached
    kernels.host_probe(2)
    assert calls == [1, 2]  # another thread count is another probe
    cache = tmp_path / "host_kernels.json"
    assert len(json.loads(cache.read_text())) == 2
    cache.write_text("{not json")
    assert kernels.host_probe(1) == first and calls == [1, 2, 1]  # a damaged cache is measured again


def test_a_failed_probe_leaves_the_plan_on_the_fitted_terms(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKBENCH_CACHE_DIR", str(tmp_path))

    def broken(threads, **kw):
        raise RuntimeError("llama_decode failed in the kernel probe")

    monkeypatch.setattr(kernels, "measure", broken)
    assert kernels.host_probe(1) is None and not (tmp_path / "host_kernels.json").exists()


@pytest.mark.parametrize("drop_above, expected", [(32, 32), (128, 128), (None, None)])
def test_the_cache_this_process_gets_is_where_one_threads_read_rate_drops(monkeypatch, drop_above, expected):
    import tokbench.env.bandwidth as bw

    def read(np, src, pool, bounds):  # 28 GB/s from the cache, 17 from memory; 8 MiB read in a noisy moment
        mib = src.nbytes / 2**20
        if mib == 8:
            return src.nbytes / 19e9
        return src.nbytes / ((28e9 if drop_above is None or mib <= drop_above else 17e9))

    monkeypatch.setattr(bw, "_read_once", read)
    monkeypatch.setattr(bw, "_array_mib", lambda mib: min(mib, 512))
    out = measure_cache_mib(300.0, seconds=0.0)
    assert (out or {}).get("cache_mib") == expected
    if out:
        assert out["reported_mib"] == 300.0 and out["by_mib"]["4"] == 28.0
    assert measure_cache_mib(None) is None  # no reported cache: nothing to bound the sizes


def test_a_bench_adds_a_probe_and_plans_take_the_median_of_the_last_five(tmp_path, monkeypatch):
    from dataclasses import replace

    monkeypatch.setenv("TOKBENCH_CACHE_DIR", str(tmp_path))
    slow = [3.0, 1.0, 1.1, 0.9, 1.2, 1.0, 5.0]  # a shared host's slow minutes, first and last
    calls = []

    def fake(threads, **kw):
        calls.append(threads)
        return replace(_fake(threads), small_lo_s=slow[len(calls) - 1] * 1e-3)

    monkeypatch.setattr(kernels, "measure", fake)
    assert kernels.host_probe(1).small_lo_s == pytest.approx(3e-3)  # the first plan has one probe only
    for _ in range(6):
        kernels.host_probe(1, refresh=True)  # as each `tokbench bench` does
    kept = kernels.history(1)
    assert len(kept) == kernels.KEEP and len(calls) == 7
    assert [p.small_lo_s for p in kept] == pytest.approx([1.1e-3, 0.9e-3, 1.2e-3, 1.0e-3, 5.0e-3])  # oldest dropped
    assert kernels.host_probe(1).small_lo_s == pytest.approx(1.1e-3) and len(calls) == 7  # the median, no new probe


def test_a_bench_probes_again_only_while_probes_are_few_or_old(tmp_path, monkeypatch):
    from dataclasses import replace

    monkeypatch.setenv("TOKBENCH_CACHE_DIR", str(tmp_path))
    now = [1000.0]
    calls = []
    monkeypatch.setattr(kernels, "_now", lambda: now[0])
    monkeypatch.setattr(kernels, "measure", lambda threads, **kw: calls.append(1) or replace(_fake(threads), taken_at=now[0]))
    for _ in range(5):
        kernels.host_probe(1, refresh="stale")
    assert len(calls) == 3  # three kept: a bench stops probing
    now[0] += 3601
    kernels.host_probe(1, refresh="stale")
    assert len(calls) == 4  # the newest is over an hour old
    kernels.host_probe(1, refresh=True)
    assert len(calls) == 5  # hw probe always times again


def test_the_cache_kept_is_the_least_any_probe_saw():
    from dataclasses import replace

    probes = [replace(_fake(1), cache_mib=c) for c in (128.0, 64.0, 128.0, 0.0)]
    assert kernels.combined(probes).cache_mib == 64.0  # a noisy minute's 128 does not win; 0 is "not measured"
    assert kernels.combined([_fake(1)]).cache_mib == 0.0
