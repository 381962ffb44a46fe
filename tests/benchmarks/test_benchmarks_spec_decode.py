"""benchmarks/gpu/spec_decode.py end to end, against a stand-in llama-server that streams accepted
draft batches as llama-server does (tests/benchmarks/tb_fake_llama_server.py): the script starts
it with the speculative flags, runs ``tokbench bench --endpoint``, and writes JSON lines with
tokbench's decode tok/s beside the server's own and the acceptance. The real llama-server runs on
the GPU machine (the command is in the script's docstring).
"""

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.fixture()
def fake_bin(tmp_path):
    d = tmp_path / "bin"
    d.mkdir()
    exe = d / "llama-server"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} {HERE / 'tb_fake_llama_server.py'} \"$@\"\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return d


def test_spec_decode_script_compares_with_the_server_and_reports_acceptance(fake_bin, tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")  # the stand-in never reads it; the planner just finds no spec in it
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu" / "spec_decode.py"), "--llama-bin", str(fake_bin),
                        "--out", str(out), "--gguf", str(model), "--n-max", "0,4", "--depth", "24", "--gen-tokens", "41",
                        "--requests", "3"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "spec_decode.jsonl").read_text().splitlines()]
    assert [row["n_max"] for row in rows] == [0, 4] and not any("error" in row for row in rows), rows
    base, spec = rows
    assert base["speculative"] is None and (base["tokens_per_chunk"] or {}).get("mean") == pytest.approx(1.0)
    assert spec["speculation_active"] and base["speculation_active"]
    assert spec["speculative"]["acceptance"] == pytest.approx(1.0)  # greedy, the model as its own draft
    assert spec["speculative"]["draft_tokens"] == 3 * 32  # 8 steps of 4 drafted tokens per request (1 + 8 x 5 = 41)
    assert all(q["reads"] < q["tokens"] == 41 for q in spec["per_request"])  # tokens came 5 at a time
    # tokens, not chunks: tokbench's rate is the server's own, not a fifth of it (the server clocks
    # its last write, the client the last arrival: a few ms apart on a loaded 2-core machine)
    assert abs(spec["diff_pct_of_medians"]) < 10, spec
    assert spec["identity"]["server"] == "llama-server" and spec["identity"]["engine"] == "llama.cpp-server"
