"""Reliability summary of tokbench: faults injected and survived, inputs fuzzed, records lost.

Usage: python benchmarks/reliability.py [--rounds 3] [--fuzz 10000] [--out benchmarks/results/reliability.json]

Runs, on this machine, with the fixtures of the test suite (tests/faults, tests/fuzz):
1. the fault matrix: each fault of the fault server, ``rounds`` x 2 times among ok requests, through
   the real HTTP engine, scheduler and store. A fault *survived* when the run went on and the
   request was recorded as failed with the expected class; *records lost* = requests sent minus
   records stored (must be 0);
2. a server SIGKILLed mid-run (a subprocess server);
3. SIGINT, SIGTERM and SIGKILL of a real ``tokbench bench`` process: exit time, run status,
   requests the server finished that are missing from the database beyond those in flight;
4. ``--fuzz`` mutated inputs per reader (GGUF header, config.json): crashes, slowest input, peak
   allocation.
Writes JSON and a Markdown table beside it, with the machine named.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for sub in ("tests/faults", "tests/fuzz"):
    sys.path.insert(0, str(ROOT / sub))

from tb_fault_run import run_point  # noqa: E402
from tb_fault_server import FaultServer, spawn  # noqa: E402
from tb_fuzz import config_inputs, config_seeds, config_target, fuzz_loop, gguf_inputs, gguf_seeds, gguf_target  # noqa: E402

# fault -> (expected class, engine options, point options); the tests' matrix, by name.
FAULTS = {
    "http_429": ("http_429", {}, {}), "http_500": ("http_500", {}, {}), "http_503": ("http_503", {}, {}),
    "malformed_sse:2": ("malformed_sse", {}, {}), "malformed_json:2": ("malformed_json", {}, {}),
    "error_event:2": ("server_error", {}, {}), "truncate:2": ("truncated_stream", {}, {}),
    "reset:2": ("truncated_stream", {}, {}), "drop": ("connect", {}, {}),
    "stall:2 (idle timeout)": ("timeout_idle", {"idle_timeout_s": 0.3}, {}),
    "stall_headers (idle timeout)": ("timeout_idle", {"idle_timeout_s": 0.3}, {}),
    "stall:2 (request timeout)": ("timeout", {}, {"timeout_s": 0.3}),
    "slow_first:2 (request timeout)": ("timeout", {}, {"timeout_s": 0.3}),
    "echo_auth": ("http_500", {"api_key": "tbkeyRELIABILITY0123456789"}, {}),
}


def machine() -> str:
    """One line naming the machine: CPU model, cores, RAM, OS, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} logical cores, {ram:.0f} GiB RAM, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def fault_matrix(tmp: Path, rounds: int) -> dict:
    rows = {}
    with FaultServer() as srv:
        for name, (cls, eng, pt) in FAULTS.items():
            fault = name.split(" ")[0]
            script = ["ok", fault] * (2 * rounds) + ["ok"]
            run = run_point(srv.url, tmp / f"{len(rows)}.db", srv, script, pt, eng)
            bad = [r for r in run.records if r.status != "ok"]
            key = eng.get("api_key")
            leaks = sum(key in json.dumps(r.to_dict()) for r in run.stored) if key else 0
            rows[name] = {"secret_leaks": leaks, "injected": 2 * rounds, "survived": sum(r.error_class == cls for r in bad) if not leaks else 0,
                          "classes": sorted({r.error_class for r in bad}), "expected": cls,
                          "records_lost": len(script) - len(run.stored),
                          "summary_balanced": run.summary["ok"] + run.summary["errors"] + run.summary["incomplete"] == len(script)}
    return rows


def server_killed(tmp: Path) -> dict:
    proc, port = spawn(token_delay=0.02)
    state = {"ok": 0}

    def on_record(rec) -> None:
        state["ok"] += rec.status == "ok"
        if state["ok"] == 4 and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)

    try:
        run = run_point(f"http://127.0.0.1:{port}/v1", tmp / "kill.db", None, ["x"] * 20,
                        {"concurrency": 2, "gen_tokens": 10}, {"idle_timeout_s": 2.0}, on_record)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    failed = [r for r in run.records if r.status != "ok"]
    return {"injected": 1, "requests": 20, "failed_after_kill": len(failed),
            "classes": sorted({r.error_class for r in failed}), "records_lost": 20 - len(run.stored),
            "survived": int(len(run.records) == 20 and all(r.error_class in ("connect", "truncated_stream") for r in failed))}


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            return c.execute("SELECT count(*) FROM requests").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def bench_signal(tmp: Path, sig: signal.Signals) -> dict:
    """Interrupt a real `tokbench bench` after a few records; what did the database keep?"""
    db = tmp / f"{sig.name}.db"
    with FaultServer(token_delay=0.03) as srv:
        env = {**os.environ, "TOKBENCH_DB": str(db), "HOME": str(tmp)}
        proc = subprocess.Popen([sys.executable, "-m", "tokbench", "bench", "--endpoint", srv.url, "--concurrency", "1,2",
                                 "--requests", "10", "--context-depth", "8", "--gen-tokens", "5", "--warmup", "0", "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp)
        while _count(db) < 3 and proc.poll() is None:
            time.sleep(0.02)
        acknowledged = _count(db)
        t0 = time.monotonic()
        proc.send_signal(sig)
        proc.communicate(timeout=30)
        exit_s = time.monotonic() - t0
        time.sleep(0.2)
        finished_by_server = srv.completed - 1  # less the preflight
    with sqlite3.connect(db) as c:
        integrity = c.execute("PRAGMA integrity_check").fetchone()[0]
        status = c.execute("SELECT status FROM runs").fetchone()[0]
        ok = c.execute("SELECT count(*) FROM requests WHERE status = 'ok'").fetchone()[0]
        stored = c.execute("SELECT count(*) FROM requests").fetchone()[0]
    return {"injected": 1, "exit_s": round(exit_s, 3), "returncode": proc.returncode, "run_status": status,
            "integrity": integrity, "acknowledged_before": acknowledged, "stored": stored,
            "server_finished": finished_by_server, "ok_stored": ok,
            "records_lost": max(0, acknowledged - stored),
            "survived": int(integrity == "ok" and stored >= acknowledged and ok >= finished_by_server - 2
                            and (sig == signal.SIGKILL or (exit_s < 5 and status == "interrupted")))}


def fuzzing(tmp: Path, n: int) -> dict:
    out = {}
    for name, inputs, target in (("gguf_header", gguf_inputs(gguf_seeds(tmp), n, seed=99), gguf_target),
                                 ("config_json", config_inputs(config_seeds(), n, seed=99), config_target)):
        t0 = time.perf_counter()
        try:
            stats = fuzz_loop(inputs, target, trace_every=4).to_dict()
            stats["crashes"] = 0
        except AssertionError as exc:
            stats = {"inputs": None, "crashes": 1, "first_crash": str(exc)[:300]}
        stats["wall_s"] = round(time.perf_counter() - t0, 2)
        out[name] = stats
    return out


def markdown(doc: dict) -> str:
    t = doc["totals"]
    lines = [f"# tokbench reliability ({doc['date']})", "", f"Machine: {doc['machine']}", "",
             f"**Faults injected {t['faults_injected']}, survived {t['faults_survived']}; inputs fuzzed "
             f"{t['inputs_fuzzed']} ({t['fuzz_crashes']} crashes); records lost {t['records_lost']}.**", "",
             "| fault | injected | survived | recorded as | records lost |", "|---|---:|---:|---|---:|"]
    for name, r in doc["faults"].items():
        lines.append(f"| {name} | {r['injected']} | {r['survived']} | {', '.join(c or '?' for c in r['classes'])} | {r['records_lost']} |")
    for name, r in doc["interrupts"].items():
        extra = f"exit {r['returncode']} in {r['exit_s']} s, run {r['run_status']}, integrity {r['integrity']}" if "exit_s" in r else \
            ", ".join(r.get("classes", []))
        lines.append(f"| {name} | {r['injected']} | {r['survived']} | {extra} | {r['records_lost']} |")
    lines += ["", "| reader | inputs | accepted | rejected (one-line UserError) | slowest input s | peak KiB | crashes |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for name, f in doc["fuzz"].items():
        lines.append(f"| {name} | {f.get('inputs')} | {f.get('accepted')} | {f.get('rejected')} | {f.get('max_input_s')} | "
                     f"{f.get('max_peak_kib')} | {f['crashes']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fuzz", type=int, default=10_000)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/reliability.json"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        faults = fault_matrix(tmp, a.rounds)
        interrupts = {"server SIGKILLed mid-run": server_killed(tmp)}
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            interrupts[f"tokbench bench {sig.name}"] = bench_signal(tmp, sig)
        fuzz = fuzzing(tmp, a.fuzz)
    every = list(faults.values()) + list(interrupts.values())
    totals = {"faults_injected": sum(r["injected"] for r in every), "faults_survived": sum(r["survived"] for r in every),
              "inputs_fuzzed": sum(f.get("inputs") or 0 for f in fuzz.values()),
              "fuzz_crashes": sum(f["crashes"] for f in fuzz.values()),
              "records_lost": sum(r["records_lost"] for r in every)}
    doc = {"benchmark": "reliability", "machine": machine(), "date": time.strftime("%Y-%m-%d"), "totals": totals,
           "faults": faults, "interrupts": interrupts, "fuzz": fuzz}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(doc))
    print(markdown(doc))


if __name__ == "__main__":
    main()
