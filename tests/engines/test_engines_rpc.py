"""A two-node llama.cpp RPC cluster on loopback, on the CPU, for real: ``tokbench bench --rpc 1`` starts a
ggml-rpc-server (built by scripts/build_rpc against llama-cpp-python's own libggml), the launched server
offloads every layer to it, tokens come back, and the run's identity records the topology.

Evidence that the tokens went through the RPC server and not around it: the server's model load
puts the layers in an ``RPC0[127.0.0.1:PORT]`` buffer, and the rpc-server (GGML_RPC_DEBUG=1) logs one
``graph_compute`` or ``graph_recompute`` per decoded step, at least as many as the tokens generated.
"""

import json
import os
import re
import socket
import subprocess
import sys

import pytest
from tb_tiny_models import tiny_gguf

from tokbench.store import open_store

pytestmark = pytest.mark.engine

GEN, REQUESTS = 8, 2


def test_two_node_rpc_cluster_on_loopback(tmp_path):
    model = tiny_gguf(tmp_path / "tiny.gguf", quant="Q8_0", n_layer=4, hidden=128)
    db = tmp_path / "rpc.db"
    env = {**os.environ, "TOKBENCH_DB": str(db), "GGML_RPC_DEBUG": "1"}
    r = subprocess.run([sys.executable, "-m", "tokbench.cli.main", "bench", "--model", str(model), "--rpc", "1",
                        "--context-depth", "32", "--gen-tokens", str(GEN), "--concurrency", "1",
                        "--requests", str(REQUESTS), "--warmup", "0", "--threads", "1", "--json"],
                       env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    (row,) = doc["results"]
    assert row["ok"] == REQUESTS and row["output_tokens"] == GEN * REQUESTS
    with open_store(db) as store:
        info = store.get_run(doc["run_id"])
    topo = info.config["identity"]["topology"]
    assert (topo["nodes"], topo["split"], topo["link"]) == (2, "pipeline", "loopback")
    assert "llama.cpp RPC: 1 rpc-server" in topo["detail"]
    assert info.config["job"]["runs"][0]["target"]["layout"]["rpc"] == 1
    eng = info.environment["engine"]
    (endpoint,) = eng["rpc_servers"]
    server_log = open(eng["log"], errors="replace").read()
    assert re.search(rf"RPC0\[{re.escape(endpoint)}\] model buffer size", server_log), server_log[-3000:]
    rpc_log = open(eng["rpc_logs"][0], errors="replace").read()
    # one graph per decoded step: sent once ("graph_compute"), then rerun from its cache ("graph_recompute")
    steps = len(re.findall(r"\[graph_(?:re)?compute\]", rpc_log))
    assert steps >= GEN * REQUESTS, rpc_log[-3000:]
    # stopped with the run: nothing listens on its port any more
    host, port = endpoint.split(":")
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=1):
        pass


def test_rpc_server_binary_missing_is_one_line(tmp_path):
    model = tiny_gguf(tmp_path / "tiny.gguf")
    env = {**os.environ, "TOKBENCH_RPC_SERVER": str(tmp_path / "nope"), "TOKBENCH_DB": str(tmp_path / "x.db")}
    r = subprocess.run([sys.executable, "-m", "tokbench.cli.main", "bench", "--model", str(model),
                        "--rpc", "1", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "TOKBENCH_RPC_SERVER" in r.stderr
