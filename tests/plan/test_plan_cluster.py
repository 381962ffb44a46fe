"""tokbench.plan.cluster: per-node memory with the single-machine memory options, llama.cpp's tensor split
(-sm tensor), RPC at its own payload rate, pipelined prefill, and the prefill band."""

from __future__ import annotations

import pytest

from tokbench.catalog.hardware import get_hardware
from tokbench.plan import cluster as cl
from tokbench.plan.cluster import Link, Topology, get_link, plan_cluster
from tokbench.plan.memory import GiB
from tokbench.report.reference import model_spec

H200 = get_hardware("h200")


def topo(split: str, link: str = "nvlink", n: int = 2, hw=H200) -> Topology:
    return Topology((hw,) * n, get_link(link) if isinstance(link, str) else link, split)


def test_tensor_split_halves_the_expert_stacks_as_llama_cpp_sm_tensor_does():
    p = plan_cluster(model_spec("qwen3-30b-a3b"), "Q4_K_M", topo("tensor"), "llama.cpp", context=4096)
    one = [n.weights_bytes for n in p.nodes]
    assert one[0] == pytest.approx(one[1], rel=0.01)  # -sm row kept every expert on GPU 0; -sm tensor splits them
    assert p.feasible


def test_tensor_decode_is_the_slowest_node_plus_two_allreduces_per_layer():
    spec = model_spec("llama-3.3-70b")
    p = plan_cluster(spec, "Q4_K_M", topo("tensor"), "llama.cpp", context=64)
    link = get_link("nvlink")
    per = cl.ALLREDUCE_SYNC_S["llama.cpp"] + link.seconds(spec.hidden * cl.ACT_BYTES, cl.ROUND_TRIPS["llama.cpp"]["allreduce"])
    assert p.link_ms_per_token == pytest.approx(2 * spec.n_layers * per * 1e3)
    assert 1 / p.decode_tps == pytest.approx(max(n.step_ms for n in p.nodes) / 1e3 + p.link_ms_per_token / 1e3)
    # the graph is not divided: a small model gains little, a 70B model a lot (2x H200: 1.06x and 1.47x measured)
    small = plan_cluster(model_spec("llama-3.1-8b"), "Q4_K_M", topo("tensor"), "llama.cpp", context=64)
    assert p.decode_tps / p.single_node_decode_tps > 1.3
    assert small.decode_tps / small.single_node_decode_tps < 1.15


def test_pipeline_decode_sums_the_stages():
    p = plan_cluster(model_spec("llama-3.3-70b"), "Q4_K_M", topo("pipeline"), "llama.cpp", context=64)
    assert 1 / p.decode_tps == pytest.approx(sum(n.step_ms for n in p.nodes) / 1e3 + p.link_ms_per_token / 1e3)
    assert p.decode_tps == pytest.approx(p.single_node_decode_tps, rel=0.02)


def test_rpc_reads_the_logits_back_at_rpcs_own_rate():
    spec = model_spec("gemma-3-27b")  # 262k vocabulary: 1 MB of logits per token
    p = plan_cluster(spec, "Q4_K_M", topo("pipeline", "loopback"), "llama.cpp", context=64)
    loop = get_link("loopback")
    want = loop.seconds(spec.hidden * cl.ACT_BYTES, 3.0, cl.RPC_GBS) + spec.vocab * cl.LOGIT_BYTES / (cl.RPC_GBS * 1e9)
    assert p.link_ms_per_token == pytest.approx(want * 1e3)
    assert any("RPC" in n for n in p.notes)
    # a faster wire does not make RPC faster than its own rate; a slower one does slow it
    fast = Link("fast", "fast", "tcp", 100.0, loop.latency_us)
    slow = Link("slow", "slow", "tcp", 0.1, loop.latency_us)
    pf = plan_cluster(spec, "Q4_K_M", topo("pipeline", fast), "llama.cpp", context=64)
    ps = plan_cluster(spec, "Q4_K_M", topo("pipeline", slow), "llama.cpp", context=64)
    assert pf.link_ms_per_token == pytest.approx(p.link_ms_per_token)
    assert ps.link_ms_per_token > 4 * p.link_ms_per_token


def test_gpus_of_one_host_are_not_rpc():
    assert not cl.is_rpc(topo("pipeline", "nvlink"), "llama.cpp")
    assert cl.is_rpc(topo("pipeline", "10gbe"), "llama.cpp")
    assert not cl.is_rpc(topo("pipeline", "10gbe"), "mlx")


def test_layer_split_prefill_overlaps_ubatches_of_one_batch():
    spec = model_spec("llama-3.3-70b")
    one = plan_cluster(spec, "Q4_K_M", topo("pipeline"), "llama.cpp", context=4608, prompt_tokens=512, prompt_depth=1000)
    four = plan_cluster(spec, "Q4_K_M", topo("pipeline"), "llama.cpp", context=4608, prompt_tokens=4096,
                        prompt_depth=1000)
    # pp512 is one ubatch: the stages run one after the other, as on one GPU
    assert one.prefill_tps == pytest.approx(one.single_node_prefill_tps, rel=0.02)
    # a 2048-token batch is 4 ubatches over 2 near-equal stages: (2 + 3) / 4 stage-times per ubatch, not 2
    assert four.prefill_tps / one.prefill_tps == pytest.approx(8 / 5, rel=0.05)
    assert four.prompt_tokens == 4096 and any("pipelined" in n for n in four.notes)


def test_tensor_prefill_divides_the_compute_and_pays_the_allreduces_per_ubatch():
    p = plan_cluster(model_spec("llama-3.3-70b"), "Q4_K_M", topo("tensor"), "llama.cpp", context=768,
                     prompt_tokens=512, prompt_depth=256)
    assert 1.5 < p.prefill_tps / p.single_node_prefill_tps < 2.0


def test_prefill_has_a_band():
    p = plan_cluster(model_spec("qwen2.5-32b"), "Q4_K_M", topo("pipeline", "loopback"), "llama.cpp", context=4096)
    assert p.prefill_tps_low == pytest.approx(p.prefill_tps * cl.PREFILL_BAND[0])
    assert p.prefill_tps_high == pytest.approx(p.prefill_tps * cl.PREFILL_BAND[1])
    d = p.to_dict()
    assert {"prefill_tps", "prefill_tps_low", "prefill_tps_high", "single_node_prefill_tps", "prompt_tokens"} <= set(d)


def test_memory_options_apply_to_every_node():
    spec = model_spec("llama-3.3-70b")
    free = plan_cluster(spec, "Q4_K_M", topo("pipeline"), "llama.cpp", context=4096)
    assert free.feasible
    capped = plan_cluster(spec, "Q4_K_M", topo("pipeline"), "llama.cpp", context=4096, gpu_limit_gb=15)
    assert all(n.usable_bytes == 15 * GiB for n in capped.nodes)
    assert not capped.feasible and "15.0 GiB usable" in capped.problems[0]
    assert capped.single_node_decode_tps is None  # one node alone under the same cap does not fit
    half = plan_cluster(spec, "Q4_K_M", topo("pipeline"), "llama.cpp", context=4096, gpu_fraction=0.5)
    assert all(n.usable_bytes == int(0.5 * H200.memory_bytes) for n in half.nodes)


def test_os_reserve_on_mac_nodes_and_stages_sized_to_usable_memory():
    big, small = get_hardware("m3-ultra-80c:512"), get_hardware("m3-ultra-80c:256")
    t = Topology((big, small), get_link("tb5-rdma"), "pipeline")
    spec = model_spec("llama-3.3-70b")
    default = plan_cluster(spec, "Q4_K_M", t, "llama.cpp", context=4096)
    reserved = plan_cluster(spec, "Q4_K_M", t, "llama.cpp", context=4096, os_reserve_gb=200)
    assert reserved.nodes[0].usable_bytes <= big.memory_bytes - 200 * GiB
    assert reserved.nodes[1].usable_bytes <= small.memory_bytes - 200 * GiB
    assert default.nodes[0].layers != reserved.nodes[0].layers  # the stages follow the usable memory
    same = plan_cluster(spec, "Q4_K_M", t, "llama.cpp", context=4096, gpu_limit_gb=100)
    assert same.nodes[0].layers == f"0-{spec.n_layers // 2 - 1}"  # equal limits: equal halves


def test_llama_cpp_refuses_its_tensor_split_for_some_architectures():
    p = plan_cluster(model_spec("deepseek-v3"), "Q4_K_M", topo("tensor", n=8), "llama.cpp", context=4096)
    assert any("no tensor split (-sm tensor) for architecture 'deepseek2'" in x for x in p.problems)
    ok = plan_cluster(model_spec("deepseek-v3"), "Q4_K_M", topo("pipeline", n=8), "llama.cpp", context=4096)
    assert not any("architecture" in x for x in ok.problems)


def test_only_llama_cpp_pipelines_one_prompt():
    spec = model_spec("llama-3.3-70b")
    mac = get_hardware("m3-ultra-80c:256")
    t = Topology((mac, mac), get_link("tb5-rdma"), "pipeline")
    short, long = (plan_cluster(spec, "mlx-4bit", t, "mlx", context=4608, prompt_tokens=n, prompt_depth=1000)
                   for n in (512, 4096))
    assert long.prefill_tps == pytest.approx(short.prefill_tps, rel=0.02)  # every stage in turn
    assert not any("pipelined" in n for n in long.notes)
