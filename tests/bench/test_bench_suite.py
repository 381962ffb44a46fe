"""Suites: the shipped ones parse into the matrix they describe; bad suites are one-line errors."""

import pytest

from tokbench.bench.suite import load_suite_file, standard_runs, workload_points
from tokbench.errors import UserError


def test_default_suite_is_single_then_1_and_8():
    doc, _ = load_suite_file("default")
    (run,) = standard_runs(doc, {})
    assert run.target.engine == "llama.cpp" and run.target.model.synth_default
    assert [(p.label, p.concurrency, p.requests) for p in run.points] == [
        ("single d=1024", 1, 3), ("c=1 d=256", 1, 2), ("c=8 d=256", 8, 16)]
    assert dict(run.kinds) == {"single d=1024": "single", "c=1 d=256": "sweep", "c=8 d=256": "sweep"}
    assert len({p.seed for p in run.points}) == 3  # distinct prompts across points


def test_seed_suite_matrix():
    doc, _ = load_suite_file("seed.toml")
    runs = standard_runs(doc, {})
    labels = [(r.target.label, r.target.engine) for r in runs]
    assert ("qwen2.5-7b-L4-W0.25 Q4_K_M", "llama.cpp") in labels
    assert ("qwen2.5-7b-L4-W0.25 F16", "llama.cpp") in labels
    assert ("qwen2.5-7b-L4-W0.25 mlx-4bit", "mlx") in labels
    moe = next(r for r in runs if r.target.model.spec == "qwen3-30b-a3b")
    assert [p.label for p in moe.points] == ["single d=4096", "c=1 d=1024", "c=8 d=1024"]
    assert all(p.context_depth == 4096 for r in runs for p in r.points if p.label.startswith("single"))


def test_cli_overrides_apply_to_every_workload():
    doc, _ = load_suite_file("default")
    (run,) = standard_runs(doc, {"gen_tokens": 7, "context_depth": [32, 64], "concurrency": [2]}, keep_kinds=("sweep",))
    assert [(p.label, p.gen_tokens) for p in run.points] == [("c=2 d=32", 7), ("c=2 d=64", 7)]


def test_rate_workload_needs_a_rate_and_kinds_are_checked():
    with pytest.raises(UserError, match="rate"):
        workload_points({"kind": "rate"}, {})
    with pytest.raises(UserError, match="did you mean"):
        workload_points({"kind": "sweeep"}, {})


def test_unknown_suite_name(tmp_path):
    with pytest.raises(UserError, match="default"):
        load_suite_file("defalt")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[models]\n")
    with pytest.raises(UserError):
        load_suite_file(str(bad))
