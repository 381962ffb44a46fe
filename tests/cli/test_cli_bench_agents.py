"""`tokbench bench --workload agents` for real: a main model and a sub-agent model served side by
side by two `python -m llama_cpp.server` processes on loopback (tiny synthetic GGUFs), the store,
JSON output, a suite file with [[agents]], and bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tokbench.store import open_store

pytestmark = pytest.mark.engine


def _tiny(path: Path, hidden: int) -> Path:
    from tokbench.modelspec.model import ModelSpec
    from tokbench.synth import synthesize

    spec = ModelSpec(name=f"tiny-agents-{hidden}", arch="llama", n_layers=2, hidden=hidden, n_heads=4, n_kv_heads=2,
                     head_dim=hidden // 4, vocab=512, intermediate=2 * hidden, context_length=8192, source="test")
    return synthesize(spec, "Q8_0", path, vocab=512)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("agents")
    return _tiny(d / "main.gguf", 256), _tiny(d / "sub.gguf", 128)


def tb(*args, db, timeout=120):
    env = {**os.environ, "TOKBENCH_DB": str(db)}
    env.pop("TOKBENCH_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "tokbench.cli.main", "bench", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


SHAPE = ["--turns", "3", "--subagents", "2", "--system-tokens", "384", "--user-tokens", "32", "--gen-tokens", "16",
         "--sub-system-tokens", "32", "--sub-prompt-tokens", "48", "--sub-gen-tokens", "16", "--threads", "1"]


def test_two_servers_side_by_side(models, tmp_path):
    main, sub = models
    db = tmp_path / "a.db"
    r = tb("--workload", "agents", "--engine", "llama.cpp-server", "--main-model", str(main), "--sub-model", str(sub),
           *SHAPE, "--hardware", "m3-ultra-80c", "--json", db=db)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["workload"] == "agents" and doc["status"] == "complete"
    with open_store(db) as store:
        info = store.get_run(doc["run_id"])
        recs = store.records(doc["run_id"])
        meta = store.point_meta(doc["run_id"])
    assert info.config["workload"] == "agents" and info.environment["sub"]["model"]["file"] == "sub.gguf"
    assert info.environment["engine"]["launcher"] == "llama.cpp-server"
    by = {r.index: r for r in recs}
    assert all(r.status == "ok" for r in recs)
    assert sum(r.role == "main" for r in recs) == 12 and sum(r.role == "sub" for r in recs) == 12  # 2 modes
    for mode in ("on", "off"):
        for phase in ("alone", "load"):
            turns = meta[f"agents {phase} cache={mode}"]["turns"]
            tokens = [by[t["main_index"]].prompt_tokens for t in turns]
            assert tokens == [416, 464, 512]  # 384 + (t-1)*(32+16) + 32: exact, strictly growing
            assert all(by[t["main_index"]].usage_output_tokens == 16 for t in turns)
        turns = meta[f"agents load cache={mode}"]["turns"]
        for t, nxt in zip(turns, turns[1:]):
            subs = [by[i] for i in t["sub_indices"]]
            assert len(subs) == 2 and all(s.prompt_tokens == 80 for s in subs)
            assert by[nxt["main_index"]].t_start >= max(s.t_end for s in subs)  # the graph's order
        assert meta[f"agents load cache={mode}"]["makespan_s"] > 0
        assert {r.context_depth for r in recs if r.point == f"agents load cache={mode} main t=2"} == {464}
    summary = doc["agents"]
    assert summary["modes"]["on"]["main_decode_tps_load"] > 0 and summary["modes"]["off"]["sub_ttft_ms"] > 0
    # Prefix cache: turn t+1 reuses turn t's prompt on the server, so later turns prefill much less.
    assert summary["prefix_cache_ttft_ratio"] < 1.0
    assert [t["reusable_prefix_tokens"] for t in summary["turns"][:3]] == [0, 416, 464]
    assert "prefix-match hit" in Path(info.environment["engine"]["log"]).read_text()
    plan = doc["plan"]
    assert [s["roles"] for s in plan["servers"]] == [["main"], ["sub"]] and plan["fits"] is True
    assert plan["total_bytes"] == sum(s["total_bytes"] for s in plan["servers"])
    assert plan["roles"]["main"]["decode_tps_load"] < plan["roles"]["main"]["decode_tps_alone"]
    assert {row["role"] for row in doc["beside_plan"]} == {"main", "sub"}
    assert meta["agents summary"]["plan"]["servers"] == plan["servers"]
    # The stored run reads like any other: the report renders it (one context depth per point label).
    env = {**os.environ, "TOKBENCH_DB": str(db)}
    rep = subprocess.run([sys.executable, "-m", "tokbench.cli.main", "report", "--run", doc["run_id"], "--json"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert rep.returncode == 0, rep.stderr


def test_suite_file_with_shared_in_process_engine_and_table(models, tmp_path):
    main, _ = models
    suite = tmp_path / "mix.toml"
    suite.write_text(f"""
[[agents]]
name = "shared engine"
turns = 2
subagents = 2
system_tokens = 64
user_tokens = 16
main_gen_tokens = 8
sub_system_tokens = 0
sub_prompt_tokens = 24
sub_gen_tokens = 8
prefix_cache = ["off"]
dispatch = "after"
[agents.main]
engine = "llama.cpp"
path = "{main}"
""")
    r = tb("--suite", str(suite), "--threads", "1", "--hardware", "m3-ultra-80c", db=tmp_path / "a.db")
    assert r.returncode == 0, r.stderr
    assert "Agents: per role" in r.stdout and "Main agent by turn" in r.stdout and "Planner on" in r.stdout
    with open_store(tmp_path / "a.db") as store:
        run = store.list_runs()[0]
        recs = store.records(run.id)
    assert run.name == "shared engine" and "sub" not in run.environment
    assert sum(r.role == "sub" for r in recs) == 4 and {r.prompt_tokens for r in recs if r.role == "sub"} == {24}
    r = tb("--resume", run.id, db=tmp_path / "a.db")
    assert r.returncode == 2 and "is complete; nothing to resume" in r.stderr


@pytest.mark.parametrize("args,needle", [
    (["--workload", "agents", "--turns", "0"], "--turns"),
    (["--workload", "agents", "--sub-engine", "llama.cp"], "did you mean"),
    (["--workload", "agents", "--main-model", "/nonexistent/m.gguf", "--engine", "llama.cpp-server"], "model not found"),
    (["--workload", "agents", "--suite", "default"], "no [[agents]]"),
])
def test_bad_input_is_one_line_exit_2(args, needle, tmp_path):
    r = tb(*args, db=tmp_path / "a.db")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]


def test_unknown_suite_key_names_close_match(tmp_path):
    suite = tmp_path / "bad.toml"
    suite.write_text("[[agents]]\nturn = 3\n")
    r = tb("--suite", str(suite), db=tmp_path / "a.db")
    assert r.returncode == 2 and "unknown agents key 'turn'" in r.stderr and "turns" in r.stderr


def test_help_lists_agent_flags():
    r = subprocess.run([sys.executable, "-m", "tokbench.cli.main", "bench", "--help"], capture_output=True, text=True)
    assert "--workload" in r.stdout and "--sub-endpoint" in r.stdout and "--prefix-cache" in r.stdout
