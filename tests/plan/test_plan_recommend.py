"""Ranking: the cheap lower bounds prune nothing that qualifies, and `tokbench plan --min-tps` is fast."""

import json
import subprocess
import sys
import time

import pytest

from tokbench.catalog.models import model_ids
from tokbench.plan import recommend as rec
from tokbench.plan.memory import weight_bytes
from tokbench.modelspec import load_spec

PRESETS = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "IQ4_XS", "Q3_K_M", "IQ3_XS", "IQ3_XXS", "IQ2_XXS", "Q2_K",
           "IQ1_S", "MXFP4_MOE", "F16", "mlx-4bit", "mlx-8bit")


@pytest.mark.parametrize("model", model_ids())
def test_floor_bits_bound_every_catalog_model(model):
    spec = load_spec(model)
    n = spec.n_params()
    for q in PRESETS:
        try:
            wb = weight_bytes(spec, q)
        except Exception:  # noqa: BLE001 - a preset this model cannot take is not a bound to check
            continue
        assert wb.total >= n * rec.floor_bits(q) / 8, (model, q)


@pytest.mark.parametrize("hw,tps,ctx", [("m3-ultra-80c:256", 60, 131072), ("h100-sxm", 30, 32768),
                                        ("dgx-spark", 20, 8192), ("m4-max-40c:64", 5, 4096)])
def test_pruning_changes_no_answer(monkeypatch, hw, tps, ctx):
    fast = rec.recommend(hw, tps, ctx)
    monkeypatch.setattr(rec, "cannot_qualify", lambda *a: False)
    assert rec.recommend(hw, tps, ctx) == fast


COLD_START = {
    "recommend": ["plan", "--hardware", "m3-ultra-80c:256", "--min-tps", "60", "--context", "128k", "--json"],
    "recommend 50": ["plan", "--hardware", "m3-ultra-80c:256", "--min-tps", "50", "--context", "128k", "--json"],
    "one model": ["plan", "qwen3.5-397b-a17b", "--hardware", "m3-ultra-80c:256,m3-ultra-80c:512", "--context", "128k",
                  "--json"],
}


@pytest.mark.parametrize("case", COLD_START)
def test_plan_cold_start_under_half_a_second(case, tmp_path):
    # Issue 15's target. 32 catalog models took 0.85 s to rank (2-core VM, load 3, 2026-11-30); the
    # committed per-tensor sums (tokbench.plan.weight_sums) bring it to ~0.3 s (benchmarks/plan_cold_start.py).
    # Measured as the child's CPU seconds (user + sys), best of 3, so other work on a loaded CI
    # machine does not count, after one run that writes the bytecode an installed package ships with
    # (into tmp_path: PYTHONDONTWRITEBYTECODE would otherwise recompile every module on every run).
    import os
    import resource

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path)
    argv = [sys.executable, "-m", "tokbench.cli.main", *COLD_START[case]]
    subprocess.run(argv, check=True, capture_output=True, env=env)
    cpu, wall = [], []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout
        wall.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    assert "rows" in json.loads(out)
    assert min(cpu) < 0.5, f"CPU s {cpu}, wall s {wall}"
