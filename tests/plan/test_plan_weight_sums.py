"""The committed per-tensor sums (catalog/data/weight_sums.json) equal a fresh computation, cover every
catalog model at the default presets, and are used only for specs whose tensors follow from their fields."""

from dataclasses import replace

import pytest

from tokbench.catalog.models import model_ids
from tokbench.modelspec import load_spec
from tokbench.modelspec.model import TensorSpec
from tokbench.plan import estimate, weight_sums as ws
from tokbench.plan.memory import _typed_bytes, weight_bytes
from tokbench.plan.work import work_profile

REGEN = "stale: rewrite with `python -m tokbench.plan.weight_sums` and commit the file"


@pytest.mark.parametrize("model", model_ids())
def test_committed_sums_equal_a_fresh_computation(model):
    spec = load_spec(model)
    committed = ws._table().get(ws.spec_key(spec))
    assert committed is not None, f"{model}: no committed sums ({REGEN})"
    fresh = ws.fresh_entry(spec)
    assert set(fresh["quants"]) == set(ws.QUANTS), model  # every default preset applies to every catalog model
    assert committed == fresh, f"{model}: {REGEN}"
    # Key order of the per-class dicts is the order sums are taken in: keep it too.
    for q, e in fresh["quants"].items():
        for part in ("dense_by_class", "experts_by_class"):
            assert list(committed["quants"][q]["weights"][part]) == list(e["weights"][part]), (model, q)


def test_no_entry_outside_the_catalog():
    keys = {ws.spec_key(load_spec(m)) for m in model_ids()}
    assert set(ws._table()) == keys, REGEN


@pytest.mark.parametrize("model,quant", [("qwen3.5-397b-a17b", "IQ2_XXS"), ("deepseek-v3.2", "Q4_K_M"),
                                         ("gemma-4-26b-a4b", "mlx-4bit"), ("nemotron-3-nano-30b-a3b", "Q6_K")])
def test_lookup_equals_the_per_tensor_path(model, quant):
    spec = load_spec(model)
    wb, work = ws.lookup(spec, quant.lower())  # any spelling parse_quant accepts
    sizes = _typed_bytes(spec, quant)
    fresh_wb, fresh_work = weight_bytes(spec, quant, sizes), work_profile(spec, quant, sizes)
    assert wb == fresh_wb and wb.dense_by_class == fresh_wb.dense_by_class
    assert wb.experts_by_class == fresh_wb.experts_by_class
    assert work == fresh_work and list(work.types) == list(fresh_work.types)
    assert ws.counts(spec) == (spec.n_params(), spec.n_active_params())


def test_only_specs_built_from_their_fields_use_the_sums():
    spec = load_spec("llama-3.1-8b")
    assert ws.lookup(spec, "Q4_K_M") is not None
    assert ws.lookup(spec, "Q2_K") is None  # not a default preset: computed per tensor
    assert ws.lookup(spec, None) is None  # native types: a file's
    assert ws.lookup(replace(spec, n_layers=spec.n_layers - 1, layer_kinds=()), "Q4_K_M") is None  # another spec
    typed = replace(spec, tensor_list=tuple(TensorSpec(t.name, t.shape, t.layer, "Q4_K") for t in spec.tensors()))
    assert ws.spec_key(typed) is None and ws.counts(typed) is None  # a file's own tensor list


@pytest.mark.parametrize("model,quant,hw,engine,n", [
    ("qwen3.5-397b-a17b", "IQ2_XXS", "m3-ultra-80c:512", "llama.cpp", 1),
    ("kimi-k2", "Q4_K_M", "h200", "llama.cpp-server", 8),
    ("qwen3-next-80b-a3b", "mlx-4bit", "m4-max-40c:128", "mlx", 1),
    ("gemma-3-27b", "Q8_0", "rtx-4090", "llama.cpp", 1),
])
def test_estimate_is_the_same_without_the_sums(monkeypatch, model, quant, hw, engine, n):
    fast = estimate(load_spec(model), quant, hw, engine, 32768, n).to_dict()
    from tokbench import plan
    from tokbench.plan import speed

    monkeypatch.setattr(ws, "_entry", lambda spec: None)
    monkeypatch.setattr(plan, "_WB_CACHE", {})
    monkeypatch.setattr(speed, "_ACTIVE", {})
    slow = estimate(load_spec(model), quant, hw, engine, 32768, n).to_dict()
    assert fast == slow
