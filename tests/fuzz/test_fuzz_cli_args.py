"""Bad command-line values: every one exits 2 with exactly one line on stderr, never a traceback.

Table-driven over many invocations of plan, synth, report, bench and the store commands; run
in-process (fast), plus a few through a real subprocess to check the process-level behaviour.
"""

from __future__ import annotations

import subprocess
import sys
import re
import socket

import pytest

from tokbench.cli.main import main
from tokbench.store import open_store

M = "qwen2.5-7b"
SYNTH = ["synth", M, "--quant", "Q4_K_M", "--out", "{tmp}/x.gguf"]

BAD = {
    "plan": [
        [M, "--context", "-5"], [M, "--context", "abc"], [M, "--context", "0"], [M, "--context", "1e99"],
        [M, "--depth", "-1"], [M, "--hardware", "nope-gpu-9000"], [M, "--quant", "Q9_X"],
        [M, "--engine", "nonsense"], [M, "--concurrency", "0"], [M, "--concurrency", "-3"],
        [M, "--kv-type", "q3"], [M, "--min-tps", "-1"], [M, "--gpu-fraction", "1.5"],
        [M, "--gpu-fraction", "nan"], [M, "--gpu-limit-gb", "-4"], [M, "--os-reserve-gb", "inf"],
        ["--with", "not-a-pair"], ["--with", f"{M}:Q4_K_M:-1"], ["--min-tps", "abc"],
        ["nosuchmodel-xyz"], ["/nonexistent/dir/model.gguf"], [M, "--bogus-flag"],
    ],
    "synth": [
        ["--scale-layers", "0"], ["--scale-layers", "-1"], ["--scale-layers", "99999"],
        ["--scale-width", "0"], ["--scale-width", "1.5"], ["--scale-width", "nan"], ["--vocab", "-3"],
        ["--vocab", "abc"], ["--quant", "NOPE"], ["--format", "pdf"],
    ],
    "report": [
        ["--run", "nosuchrun"], ["--format", "pdf"], ["--run", "last"],
    ],
    "bench": [
        ["--concurrency", "0"], ["--concurrency", "-2"], ["--concurrency", "x"], ["--context-depth", "-1"],
        ["--gen-tokens", "0"], ["--requests", "-5"], ["--rate", "-1"], ["--rate", "nan"], ["--rate", "inf"],
        ["--duration", "nan"], ["--timeout", "0"], ["--engine", "nope-engine"], ["--endpoint", "ftp://x"],
        ["--resume", "nosuchrun"], ["--suite", "no-such-suite"], ["--engine", "llama.cpp", "--model", "/nonexistent/m.gguf"],
        ["--duration", "-3"], ["--slo", "ttft_ms=abc"], ["--slo", "nonsense=5"], ["--warmup", "-1"],
    ],
    "other": [
        ["runs", "--limit", "-1"], ["runs", "--limit", "abc"], ["export", "NOSUCHRUN"],
        ["export", "NOSUCHRUN", "--format", "xml"], ["compare", "--fail-on-regression", "abc"],
        ["hw", "probe", "--nonsense"], ["nosuchcommand"],
    ],
}


def _cases():
    for cmd, rows in BAD.items():
        for row in rows:
            argv, row_marks = (row.values[0], list(row.marks)) if hasattr(row, "values") else (row, [])
            if cmd == "synth":
                base = [a for a in SYNTH if a not in ("--quant", "Q4_K_M")] if "--quant" in argv else SYNTH
                full = base + argv
            else:
                full = [cmd] + argv if cmd != "other" else argv
            yield pytest.param(full, id=" ".join(full), marks=row_marks)


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _relevant(argv: list[str]) -> set[str]:
    """Words the error line must name one of: a flag given (without dashes) or a value given."""
    words = set()
    for a in argv[1:] or argv:
        if a != M:
            words |= {a.lstrip("-").lower(), *(p.lower() for p in re.split("[:=,]", a) if p and p != M)}
    return {w for w in words if w}


@pytest.fixture(autouse=True)
def empty_db(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKBENCH_DB", str(tmp_path / "cli.db"))
    open_store(tmp_path / "cli.db").close()  # an empty store: errors must be about the bad value
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("argv", list(_cases()))
def test_bad_invocation_exits_2_with_one_line(argv, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    words = _relevant(argv)
    if argv[0] == "bench":
        # Should a bad value slip through, fail fast on a refused port instead of benchmarking.
        argv = argv[:1] + ["--endpoint", f"http://127.0.0.1:{free_port()}/v1"] + argv[1:]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("tokbench")
    message = lines[0].split(": ", 2)[-1].lower()  # after "tokbench: error: "
    assert any(w in message for w in words), (words, lines[0])  # it names what was wrong
    assert not list(tmp_path.glob("x.gguf*"))  # a refused synth writes nothing


@pytest.mark.parametrize("argv", [["plan", M, "--context", "-5"], ["synth", M, "--quant", "NOPE", "--out", "x.gguf"],
                                  ["report", "--run", "nosuchrun"], ["nosuchcommand"]])
def test_bad_invocation_in_a_real_process(argv, tmp_path):
    env = {"TOKBENCH_DB": str(tmp_path / "p.db"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    p = subprocess.run([sys.executable, "-m", "tokbench", *argv], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=60)
    assert p.returncode == 2, p
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr, p.stderr
