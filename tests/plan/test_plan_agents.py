"""The planner's view of an agent mix: joint memory fit and decode speed on a shared memory bus."""

import pytest

from tokbench.catalog.calibration import get_calibration
from tokbench.catalog.hardware import get_hardware
from tokbench.plan import estimate
from tokbench.plan.agents import AgentModel, plan_agents
from tokbench.plan.fit import memory_plan
from tokbench.plan.speed import step_time
from tokbench.plan.memory import weight_bytes
from tokbench.plan.work import work_profile
from tokbench.modelspec import load_spec

MAIN = AgentModel("main", "qwen2.5-32b", "Q4_K_M", context=32768, depth=16384)
SUB = AgentModel("sub", "qwen2.5-7b", "Q4_K_M", context=8192, concurrency=4, depth=2048)


def test_separate_servers_memory_is_the_sum_of_each_process():
    p = plan_agents([MAIN, SUB], "m3-ultra-80c")
    main_mp = memory_plan(load_spec("qwen2.5-32b"), "Q4_K_M", "llama.cpp", 32768, 1, "f16", "apple")
    sub_mp = memory_plan(load_spec("qwen2.5-7b"), "Q4_K_M", "llama.cpp", 8192, 4, "f16", "apple")
    assert [s["total_bytes"] for s in p["servers"]] == [main_mp.total, sub_mp.total]
    assert p["total_bytes"] == main_mp.total + sub_mp.total
    assert p["fits"] is True and p["free_bytes"] == p["usable_bytes"] - p["total_bytes"]


def test_alone_matches_estimate_and_load_is_one_round_of_both_steps():
    hw = get_hardware("m3-ultra-80c")
    p = plan_agents([MAIN, SUB], hw)
    main, sub = p["roles"]["main"], p["roles"]["sub"]
    est = estimate("qwen2.5-32b", "Q4_K_M", hw, context=32768, depth=16384)
    assert main["decode_tps_alone"] == pytest.approx(est.decode_tps)
    cal = get_calibration(hw, "llama.cpp")
    s7 = load_spec("qwen2.5-7b")
    t_sub, _ = step_time(s7, work_profile(s7, "Q4_K_M"), hw, cal, 2048, "f16", 4)
    assert sub["decode_tps_alone"] == pytest.approx(1 / t_sub)
    round_s = 1 / main["decode_tps_alone"] + t_sub
    assert main["decode_tps_load"] == pytest.approx(1 / round_s) == pytest.approx(sub["decode_tps_load"])
    assert main["load_over_alone"] < 1 and sub["load_over_alone"] < main["load_over_alone"]  # the 7B slows more


def test_one_server_for_both_roles_counts_weights_once_and_batches():
    shared = [AgentModel("main", "qwen2.5-7b", "Q4_K_M", context=16384, depth=8192, server="x"),
              AgentModel("sub", "qwen2.5-7b", "Q4_K_M", context=4096, concurrency=3, depth=2048, server="x")]
    p = plan_agents(shared, "m3-ultra-80c")
    (srv,) = p["servers"]
    assert srv["roles"] == ["main", "sub"] and srv["concurrency"] == 4 and srv["context"] == 16384
    assert srv["weights_bytes"] == weight_bytes(load_spec("qwen2.5-7b"), "Q4_K_M").total
    apart = plan_agents([AgentModel("main", "qwen2.5-7b", "Q4_K_M", context=16384, depth=8192),
                         AgentModel("sub", "qwen2.5-7b", "Q4_K_M", context=4096, concurrency=3, depth=2048)],
                        "m3-ultra-80c")
    # One batched step reads the weights once: faster under load than two processes taking turns.
    assert p["roles"]["main"]["decode_tps_load"] > apart["roles"]["main"]["decode_tps_load"]


def test_mix_that_does_not_fit_and_memory_only_without_hardware():
    big = [AgentModel("main", "llama-3.3-70b", "Q8_0", context=65536), AgentModel("sub", "qwen2.5-32b", "Q8_0",
                                                                                    context=32768, concurrency=4)]
    p = plan_agents(big, "rtx-4090")
    assert p["fits"] is False and p["free_bytes"] < 0
    bare = plan_agents(big)
    assert bare["hardware"] is None and bare["fits"] is None and bare["roles"] == {}
    assert bare["total_bytes"] == sum(s["total_bytes"] for s in bare["servers"])


def test_unknown_model_is_a_user_error():
    from tokbench.errors import UserError

    with pytest.raises(UserError, match="did you mean"):
        plan_agents([AgentModel("main", "qwen2.5-33b", "Q4_K_M")], "m3-ultra-80c")
