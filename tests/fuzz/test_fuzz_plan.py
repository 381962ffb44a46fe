"""Reader, spec check, planner and renderer together, as ``tokbench plan FILE`` runs them.

The reader fuzz (test_fuzz_readers.py) stops at the ModelSpec; a header can parse and still lie
(expert_count 0 in a file of experts, 4096 KV heads for 4, key_length 0), and before the spec check
such headers crashed the planner with ZeroDivisionError or planned a model that cannot exist. Here
each input goes through the whole command in process (half of them rendered as tables, half as
``--json`` rows that must hold finite, positive figures): every one ends in a plan or in exit 2 with
one line, within the per-input time bound.
"""

from __future__ import annotations

import pytest

from tb_fuzz import (config_inputs, config_seeds, fuzz_loop, gguf_seeds, lying_gguf_inputs, parsing_gguf_inputs,
                     plan_cli_target, shape_facts, PLAN_ARGS)
from tokbench.modelspec.gguf_header import parse_gguf_header, spec_from_header

N = 300


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return gguf_seeds(tmp_path_factory.mktemp("fuzzplan"))


def test_lying_headers_plan_or_exit_2_and_never_plan_a_lie(seeds, tmp_path):
    inputs = list(lying_gguf_inputs(seeds, N, seed=1))
    # The case is among them: a MoE header whose expert_count says 0 (a ZeroDivisionError before).
    assert any(lies.get("qwen3moe.expert_count") == 0 for _, _, lies in inputs)
    facts = [shape_facts(spec_from_header(parse_gguf_header(s, require_data=False), "seed")) for s in seeds]
    plan = plan_cli_target(tmp_path)

    def target(item):
        data, k, lies = item
        plan(data)  # raises UserError when refused
        got = shape_facts(spec_from_header(parse_gguf_header(data, require_data=False), "x"))
        assert got == facts[k], f"planned a header whose tensors contradict it: {lies}"

    stats = fuzz_loop(inputs, target, trace_every=10**9)
    assert stats.inputs == N and stats.accepted > 0 and stats.rejected > N // 2
    assert any("inconsistent GGUF header" in m for m in stats.messages)


def test_mutated_headers_through_plan(seeds, tmp_path):
    stats = fuzz_loop(parsing_gguf_inputs(seeds, N, seed=11), plan_cli_target(tmp_path), trace_every=10**9)
    assert stats.inputs == N and stats.accepted > N // 2


def test_mutated_configs_through_plan(tmp_path):
    target = plan_cli_target(tmp_path, PLAN_ARGS + ("--quant", "Q4_K_M"), kind="config")
    stats = fuzz_loop(config_inputs(config_seeds(), N, seed=5), target, trace_every=10**9)
    assert stats.inputs == N and stats.accepted > 0 and stats.rejected > 0
