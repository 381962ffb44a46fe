"""Bench layouts (issue 11): --rpc / --split-mode / --tensor-split launch llama.cpp topologies, --topology /
--link / --split state what an endpoint spans; both are part of the job and of the run's identity."""

from __future__ import annotations

import json

import pytest

from tokbench.bench.build import build_job
from tokbench.bench.identity import identity
from tokbench.bench.job import BenchArgs, BenchJob, Layout, ModelRef, Target
from tokbench.bench.start import engine_options
from tokbench.engines.protocol import EngineInfo
from tokbench.errors import UserError
from tokbench.identity import RunIdentity

EP = "http://127.0.0.1:9/v1"


def test_rpc_defaults_to_the_launched_server_and_round_trips():
    job = build_job(BenchArgs(rpc=2, tensor_split=(1.0, 2.0, 1.0)))
    t = job.runs[0].target
    assert t.engine == "llama.cpp-server"
    assert t.layout == Layout(rpc=2, tensor_split=(1.0, 2.0, 1.0), link="loopback", split="pipeline")
    assert BenchJob.from_dict(json.loads(json.dumps(job.to_dict()))) == job
    opts = engine_options(t, job.runs[0])
    assert (opts["rpc"], opts["tensor_split"]) == (2, (1.0, 2.0, 1.0)) and "split_mode" not in opts


def test_split_mode_maps_to_the_planner_split():
    t = build_job(BenchArgs(engine="llama.cpp-server", split_mode="tensor", link="nvlink")).runs[0].target
    assert (t.layout.split_mode, t.layout.split, t.layout.link) == ("tensor", "tensor", "nvlink")
    t = build_job(BenchArgs(engine="llama.cpp-server", split_mode="layer")).runs[0].target
    assert (t.layout.split, t.layout.link) == ("pipeline", None)


def test_endpoint_topology_is_stated_and_never_launched():
    job = build_job(BenchArgs(endpoint=EP, engine="exo", topology="2x m3-ultra-80c:512", link="tb5-rdma",
                              split="tensor"))
    t = job.runs[0].target
    assert t.layout == Layout(nodes="2x m3-ultra-80c:512", link="tb5-rdma", split="tensor")
    assert engine_options(t, job.runs[0]).get("rpc") is None


@pytest.mark.parametrize("args,needle", [
    (BenchArgs(engine="llama.cpp", rpc=1), "use --engine llama.cpp-server"),
    (BenchArgs(rpc=1, split_mode="row"), "RPC splits by layer"),
    (BenchArgs(engine="llama.cpp-server", split_mode="rows"), "did you mean: row"),
    (BenchArgs(endpoint=EP, topology="2x m3-ultra-80c:512", link="tb5rdma"), "did you mean: tb5-rdma"),
    (BenchArgs(endpoint=EP, topology="2x m3-ultra-80c:512", split="tensr"), "did you mean: tensor"),
    (BenchArgs(endpoint=EP, topology="m3-ultra-80c:512"), "is one machine"),
    (BenchArgs(endpoint=EP, link="10gbe"), "give --topology too"),
    (BenchArgs(topology="2x m3-ultra-80c:512"), "give --endpoint"),
    (BenchArgs(rpc=1, topology="2x m3-ultra-80c:512"), "tokbench knows what it launches"),
    (BenchArgs(rpc=1, tensor_split=(1.0, 1.0, 1.0)), "3 parts for 1 RPC server"),
    (BenchArgs(workload="agents", rpc=1), "not agent mixes"),
])
def test_layout_mistakes_are_one_line_user_errors(args, needle):
    with pytest.raises(UserError, match=needle):
        build_job(args)


def test_identity_records_the_topology(tmp_path):
    launched = Target("llama.cpp-server", model=ModelRef("m.gguf", path=str(tmp_path / "m.gguf")),
                      layout=Layout(rpc=1, link="loopback", split="pipeline"))
    info = EngineInfo("llama.cpp-server (llama-cpp-python)", "llama-cpp-python 0.3.36", "m.gguf")
    i = identity(launched, info, tmp_path / "m.gguf", None, {"nvidia": [], "apple": None})
    topo = RunIdentity.from_dict(json.loads(json.dumps(i.to_dict()))).topology
    assert (topo.nodes, topo.gpus, topo.split, topo.link) == (2, 0, "pipeline", "loopback")
    assert "llama.cpp RPC: 1 rpc-server" in topo.detail and "over loopback" in topo.label
    ep = Target("exo", endpoint=EP, layout=Layout(nodes="m3-ultra-80c:512+m3-ultra-80c:256", link="tb5-tcp",
                                                    split="pipeline"))
    t = identity(ep, EngineInfo("openai", "", "m"), None, None, None).topology
    assert (t.nodes, t.hardware, t.link) == (2, "m3-ultra-80c:512+m3-ultra-80c:256", "tb5-tcp")
    plain = identity(Target("openai", endpoint=EP), EngineInfo("openai", "", "m"), None, None, None).topology
    assert plain.label == ""  # one machine as it comes: reports print nothing extra
