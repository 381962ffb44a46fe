"""The bench job: built once from the command line's values, frozen, serializable both ways; the run
identity built from a target and a started engine's info; the resume of stored jobs."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError

import pytest

from tokbench.bench.build import build_job
from tokbench.bench.identity import identity
from tokbench.bench.job import BenchArgs, BenchJob, Target, from_legacy_config
from tokbench.engines.protocol import EngineInfo
from tokbench.errors import UserError


@pytest.mark.parametrize("args", [
    BenchArgs(),
    BenchArgs(suite="seed"),
    BenchArgs(workload="agents", agents=(("turns", 2), ("subagents", 3))),
    BenchArgs(endpoint="http://127.0.0.1:9/v1", engine="vllm", concurrency=(1, 8), rate=None, slo=(("ttft_ms", 500.0),),
              hardware="h200", plan="llama-3.1-8b:Q4_K_M"),
    BenchArgs(endpoint="http://127.0.0.1:9/v1", rate=4.0, arrival="poisson", duration=3.0),
])
def test_job_round_trips_through_json(args):
    job = build_job(args)
    back = BenchJob.from_dict(json.loads(json.dumps(job.to_dict())))
    assert back == job
    with pytest.raises(FrozenInstanceError):
        job.runs[0].target.engine = "x"  # type: ignore[misc]


def test_defaults_and_engine_table():
    job = build_job(BenchArgs(endpoint="http://127.0.0.1:9/v1", engine="vllm", hardware="h200"))
    (run,) = job.runs
    assert run.target.engine == "vllm" and job.hardware == "h200"
    assert {p.context_depth for p in run.points} == {512}  # quick on a CPU; the seed uses 4096 (--context-depth)
    job = build_job(BenchArgs(engine="llama-server"))  # an alias from the one engine table
    assert job.runs[0].target.engine == "llama.cpp-server" and job.runs[0].target.model.synth_default
    mlx = build_job(BenchArgs(engine="mlx"))
    assert {p.concurrency for p in mlx.runs[0].points} == {1}  # one stream: the default sweep fits it


@pytest.mark.parametrize("args,needle", [
    (BenchArgs(engine="mlx", concurrency=(1, 8)), "use --concurrency 1"),
    (BenchArgs(engine="sglang"), "needs --endpoint"),
    (BenchArgs(engine="mlx-server", endpoint="http://x:1/v1"), "--endpoint is for a server you run"),
    (BenchArgs(endpoint="http://x:1/v1", plan="llama"), "MODEL:QUANT"),
    (BenchArgs(engine="nope"), "did you mean"),
    (BenchArgs(hardware="h2000"), "did you mean"),
])
def test_mistakes_are_one_line_user_errors(args, needle):
    with pytest.raises(UserError, match=needle):
        build_job(args)


def test_identity_of_an_endpoint_a_launched_server_and_an_in_process_engine(tmp_path):
    ep = Target("openai", endpoint="http://h:1/v1", model_name="served", plan="llama-3.1-8b:Q4_K_M")
    i = identity(ep, EngineInfo("vllm", "0.9.0", "served"), None, "h200", None)
    assert (i.model_id, i.quant, i.engine, i.bench_engine, i.server, i.engine_version) == (
        "llama-3.1-8b", "Q4_K_M", "vllm", "openai", "vllm", "0.9.0")
    assert i.topology.gpus is None and i.hardware_id == "h200"
    unknown = identity(Target("openai", endpoint="http://h:1/v1"), EngineInfo("openai", "", "m"), None, None, None)
    assert unknown.engine == "openai"  # a server nobody recognized: the planner says so, never guesses
    from tokbench.bench.job import ModelRef

    launched = Target("llama.cpp-server", model=ModelRef("m.gguf", path=str(tmp_path / "m.gguf")))
    i = identity(launched, EngineInfo("llama.cpp-server (llama-cpp-python)", "llama-cpp-python 0.3", "m.gguf"),
                 tmp_path / "m.gguf", None, {"nvidia": [], "apple": None}, "AMD EPYC (host:23.5)")
    assert (i.engine, i.server, i.hardware_label, i.topology.gpus) == ("llama.cpp-server", "llama-cpp-python",
                                                                        "AMD EPYC (host:23.5)", 0)


def test_runs_stored_before_jobs_resume_from_their_config():
    cfg = {"engine": "openai", "model": {"label": "m"}, "points": [{"concurrency": 2, "context_depth": 8, "label": "c=2 d=8"}],
           "kinds": {"c=2 d=8": "sweep"}, "engine_options": {"endpoint": "http://h:1/v1", "model": "m"},
           "slo": {"ttft_ms": 100}}
    job = from_legacy_config(cfg)
    (run,) = job.runs
    assert run.target.endpoint == "http://h:1/v1" and run.target.model_name == "m" and run.target.model is None
    assert run.points[0].label == "c=2 d=8" and run.kind_of("c=2 d=8") == "sweep" and job.slo_dict == {"ttft_ms": 100}
