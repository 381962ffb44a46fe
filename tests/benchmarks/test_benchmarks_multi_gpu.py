"""benchmarks/gpu/multi_gpu.py and h200_report.py, the two-GPU path end to end: the script runs each
split mode as the lead will on the two-H200 machine (``--modes sm-layer sm-tensor rpc``), and the report
joins what it wrote with the pre-registered predictions (data/h200_campaign/preregistered_x2_2026-11-30.json).

llama-bench over two GPUs and a CUDA rpc-server cannot run on a machine without GPUs, so stand-ins take
their place (a script printing llama-bench's JSON lines and recording its arguments; a process that
listens on rpc-server's port): what is tested is the script's modes, arguments and records, and the report.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GPU = ROOT / "benchmarks" / "gpu"
MODEL = "qwen3-30b-a3b:Q4_K_M"  # one of the pre-registered models

FAKE_BENCH = r'''
import json, os, sys
a = sys.argv[1:]
mode = "rpc" if "-rpc" in a else "sm-" + a[a.index("-sm") + 1]
with open(os.environ["TB_ARGS_LOG"], "a") as f:
    f.write(json.dumps({"mode": mode, "argv": a, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")}) + "\n")
for depth in (0, 4096):
    for p, n in ((512, 0), (0, 128)):
        ts = {"sm-layer": 300.0, "sm-tensor": 200.0, "rpc": 150.0}[mode] * (20 if p else 1)
        print(json.dumps({"n_prompt": p, "n_gen": n, "n_depth": depth, "avg_ts": ts, "stddev_ts": 1.0,
                          "samples_ts": [ts, ts], "split_mode": mode}))
'''
FAKE_RPC = r'''
import socket, sys, time
port = int(sys.argv[sys.argv.index("-p") + 1])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", port)); s.listen()
while True:
    time.sleep(1)
'''


def _exe(d: Path, name: str, body: str) -> None:
    (d / f"{name}.py").write_text(body)
    exe = d / name
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} {d / name}.py \"$@\"\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multi")
    bin_dir, work, out = tmp / "bin", tmp / "work", tmp / "out"
    for d in (bin_dir, work):
        d.mkdir()
    _exe(bin_dir, "llama-bench", FAKE_BENCH)
    _exe(bin_dir, "rpc-server", FAKE_RPC)
    model, quant = MODEL.split(":")
    (work / f"{model}-{quant}.gguf").write_bytes(b"GGUF")  # present: the script does not synthesize it
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"), "TB_ARGS_LOG": str(tmp / "args.jsonl")}
    r = subprocess.run([sys.executable, str(GPU / "multi_gpu.py"), "--llama-bin", str(bin_dir), "--out", str(out),
                        "--workdir", str(work), "--shm-gb", "0", "--keep", "--budget-s", "300",
                        MODEL, "--modes", "sm-layer", "sm-tensor", "rpc"],  # models first: --modes takes a list
                       capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    calls = [json.loads(x) for x in (tmp / "args.jsonl").read_text().splitlines()]
    return out / "multi_gpu.jsonl", calls


def test_each_mode_runs_llama_bench_as_llama_cpp_spells_it(measured):
    path, calls = measured
    by_mode = {c["mode"]: c for c in calls}
    assert list(by_mode) == ["sm-layer", "sm-tensor", "rpc"]
    assert by_mode["sm-tensor"]["argv"][-2:] == ["-sm", "tensor"] and by_mode["sm-tensor"]["cuda"] == "0,1"
    assert by_mode["sm-layer"]["argv"][-2:] == ["-sm", "layer"]
    rpc = by_mode["rpc"]["argv"]
    assert rpc[rpc.index("-rpc") + 1].startswith("127.0.0.1:") and by_mode["rpc"]["cuda"] == "0"
    for c in calls:
        a = c["argv"]
        assert a[a.index("-p") + 1] == "512" and a[a.index("-n") + 1] == "128" and a[a.index("-d") + 1] == "0,4096"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert sum(r["kind"] == "llama-bench" for r in rows) == 12  # 3 modes x tg128/pp512 x depth 0/4096


def test_report_joins_the_new_rows_with_the_preregistered_file(measured, monkeypatch, tmp_path):
    sys.path.insert(0, str(GPU))
    import h200_report as rep

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "multi-x2-call1.jsonl").write_text(measured[0].read_text())
    monkeypatch.setattr(rep, "RAW", raw)
    rows, meta = rep.compare()
    doc = json.loads((rep.DATA / "preregistered_x2_2026-11-30.json").read_text())
    assert meta["preregistered_x2_2026-11-30.json"]["git_commit"] == doc["git_commit"]
    pre = {(p["model"], p["run"], p["test"]): p for p in doc["rows"]}
    assert len(rows) == 12
    for r in rows:
        p = pre[(r["model"], r["run"], r["test"])]
        assert r["preregistered"] and r["level"] == "pre-registered (preregistered_x2_2026-11-30.json)"
        assert r["v4"] == p["predicted"] and (r["v4_low"], r["v4_high"]) == (p["low"], p["high"])
        assert r["err_v4"] == pytest.approx((p["predicted"] - r["measured"]) / r["measured"])
    monkeypatch.setattr(rep, "DATA", tmp_path)  # write() writes beside the raw rows, not into the repository
    text = rep.write(rows, meta)
    assert "two GPUs: prefill pp512, pre-registered | 6 |" in text


def test_report_keeps_the_first_files_sm_row_predictions_for_sm_tensor_and_marks_post_hoc_rows():
    sys.path.insert(0, str(GPU))
    import h200_report as rep

    rows, _ = rep.compare()
    first = json.loads((rep.DATA / "predictions-v4-2gpu.json").read_text())
    want = next(p for p in first["rows"] if p["model"] == "llama-3.3-70b" and p["run"] == "sm-row"
                and p["test"] == "tg128 @ d0")
    got = next(r for r in rows if r["model"] == "llama-3.3-70b" and r["run"] == "sm-tensor" and r["test"] == "tg128 @ d0")
    assert got["v4"] == want["predicted"] and got["preregistered"]
    pp = [r for r in rows if r["run"] != "1 GPU" and r["metric"] == "prefill_tps"]
    # The first registration had no prefill: those rows are post-hoc; the second registered prefill too.
    first_pp = [r for r in pp if r["file"] == "multi-multi_gpu.jsonl"]
    assert first_pp and all(not r["preregistered"] and r["level"].startswith("post-hoc") for r in first_pp)
    second_pp = [r for r in pp if r["file"].startswith("multi-x2-prereg")]
    assert all(r["preregistered"] and "preregistered_x2" in r["level"] for r in second_pp)
