"""Invocations generated from each command's own argparse table (hypothesis).

Every option and positional of every command comes from ``build_parser()`` itself, so a new option is
fuzzed the day it is added. Values are drawn from what users type (catalog ids, hardware ids, presets,
files of each kind that tokbench reads, paths that exist or not) and from junk. Every invocation must
exit 0 or 2 (1 only where the command documents it), print one line on exit 2 and no traceback,
print valid JSON when asked for it, and change no file it was not asked to write (``--out``, the
database of ``import``, the backup of ``db backup``), leaving no temporary behind.

Left out, to keep this test to about a minute on 2 cores: ``bench`` (starts engines; its own fuzz
cases are in test_fuzz_cli_args.py); ``validate`` and ``report`` always estimate every published row
(seconds each), so ``report`` runs with ``--no-reference`` and ``validate`` only with a ``--run``
that is refused; ``hw probe`` runs with ``--no-measure``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokbench.cli.main import build_parser, main

EXAMPLES = 30  # per command: 11 commands, about 330 invocations in all
SKIP = {"bench"}
JUNK = ["", " ", "x", "ü", "nan", "inf", "-1", "0", "1e999", "../x", "/", "a,b", ":", "::", "0x10", "9" * 30,
        "=", "%s", "{}", "\\"]
FILES = ["tiny.gguf", "mlx", "cfg.json", "existing.txt", "emptydir", "fulldir", "new.gguf", "newdir/sub/m",
         "data.db", "notadb.txt", "nosuch/x.db", "fulldir/notes.md", "llama_bench.json"]
MODELS = ["llama-3.1-8b", "qwen3-30b-a3b", "gpt-oss-20b", "deepseek-v3", "qwen3-next-80b-a3b", "gemma-3-27b",
          "tiny.gguf", "mlx", "cfg.json", "emptydir", "existing.txt", "nosuch-model"]
POOLS = {
    "model": MODELS,
    "hardware": ["h100-sxm", "m3-ultra-80c:256", "m3-ultra", "h100", "host", "host:8", "m4-max-40c,h200",
                 "dgx", "m3-ultra-80c:192", "cpu", "rtx-4090:0"],
    "context": ["4k", "512", "128k", "10M", "0", "-5", "abc", "2048", "1.5k"],
    "depth": ["1k", "4k", "64k", "0", "abc", "512"],
    "quant": ["Q4_K_M", "Q8_0", "mlx-4bit", "IQ2_XXS", "native", "BF16", "Q4_K_M,mlx-4bit", "q9", "MXFP4_MOE",
              "mlx-bf16", "F16"],
    "engine": ["llama.cpp", "llama.cpp-server", "mlx", "mlx-server", "vllm", "sglang", "ollama", "openai",
               "lama.cpp"],
    "kv_type": ["f16", "q8_0", "q4_0", "q3"],
    "with_": ["qwen2.5-7b:Q4_K_M", "qwen2.5-7b:Q4_K_M:8k", "qwen2.5-7b:mlx-4bit", "qwen2.5-7b", "x:y:z"],
    "out": FILES,
    "db": ["data.db", "data.db", "data.db", "env.db", "notadb.txt", "emptydir", "nosuch/x.db", "tiny.gguf"],
    "file": ["llama_bench.json", "llama_bench.json", "existing.txt", "tiny.gguf", "emptydir", "nosuch.json"],
    "run": ["last", "first", "nosuch"],
    "run_a": ["last", "first", "nosuch"],
    "run_b": ["last", "first", "nosuch"],
    "name": ["mine", "x" * 200],
    "suite": ["nosuch", "default"],
    # synth: small enough to write in well under a second (1-2 layers, a few % of the width).
    "scale_layers": ["1", "2", "0", "-1", "99999", "abc"],
    "scale_width": ["0.05", "0.0625", "0", "1.5", "nan", "abc"],
    "vocab": ["512", "1024", "-3", "abc", "0"],
    "seed": ["0", "7", "-1", "abc"],
}
TYPED = {int: ["1", "2", "8", "0", "-3", "abc", "1.5", "99999999999"],
         float: ["1", "0.5", "60", "0", "-1", "nan", "inf", "abc", "1e308"]}
EXIT_1 = {"compare", "db"}  # a regression beyond --fail-on-regression; db check on a corrupt file


def _leaves(parser: argparse.ArgumentParser, path=()):
    """(command words, parser) for every runnable command, nested ``hw list``/``hw probe`` included."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sp in subs[0].choices.items():
        if not path and name in SKIP:
            continue
        yield from _leaves(sp, (*path, name))


PARSER = build_parser()
LEAVES = list(_leaves(PARSER))


def _values(action: argparse.Action):
    """Values users type for this option (9 in 10) or junk (1 in 10)."""
    pool = POOLS.get(action.dest)
    if pool is None and action.choices:
        pool = [*action.choices]
    if pool is None:
        pool = TYPED.get(action.type, MODELS[:2] + FILES[:4])
    # Hypothesis starts from the simplest draws (0, the first element): those are the valid ones.
    return st.integers(0, 9).flatmap(lambda i: st.sampled_from(JUNK if i == 9 else pool))


NEW = ["new-{n}.gguf", "new-{n}", "newdir-{n}/sub/m.md", "new-{n}.json"]  # {n}: a fresh name each time


@st.composite
def invocations(draw, leaf: tuple[str, ...]):
    path, parser = next(x for x in LEAVES if x[0] == leaf)
    actions = [a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]
    chunks = []
    for a in (a for a in actions if not a.option_strings):
        if a.nargs == "?" and draw(st.integers(0, 4)) == 4:
            continue
        chunks.append([draw(_values(a))])
    optional = [a for a in actions if a.option_strings and not a.required]
    chosen = draw(st.lists(st.sampled_from(optional or [None]), max_size=4,
                           unique_by=lambda a: getattr(a, "dest", None)))
    # Required options nearly always (argparse's refusal of a missing one is checked now and then).
    chosen += [a for a in actions if a.option_strings and a.required and draw(st.integers(0, 9)) < 9]
    for a in chosen:
        if a is None:
            continue
        flag = draw(st.sampled_from(a.option_strings))
        if a.nargs == 0:
            chunks.append([flag])
            continue
        value = draw(st.sampled_from(NEW)) if a.dest == "out" and not draw(st.booleans()) else draw(_values(a))
        chunks.append([flag, value.replace("{n}", str(draw(st.integers(0, 10**9))))])
    chunks += _guards(path, chunks, draw)
    chunks = draw(st.permutations(chunks))
    glob = draw(st.sampled_from([[]] * 6 + [["--json"], ["--db", "data.db"], ["--db", "notadb.txt", "--json"]]))
    return [*glob, *path, *(x for c in chunks for x in c)]


def _guards(path, chunks, draw) -> list[list[str]]:
    """Options that keep an invocation short (see the module docstring)."""
    given_flags = {c[0] for c in chunks}
    out = []
    if path == ("synth",):
        for flag in ("--scale-layers", "--scale-width"):
            if flag not in given_flags:
                out.append([flag, draw(st.sampled_from(POOLS[flag[2:].replace("-", "_")][:2]))])
    if path == ("report",):
        out.append(["--no-reference"])
    if path == ("validate",):
        out.append(["--run", "nosuch"])
    if path == ("hw", "probe"):
        out.append(["--no-measure"])
    return out


def _is_open(conn) -> bool:
    import sqlite3

    try:
        conn.total_changes
    except sqlite3.ProgrammingError:  # "Cannot operate on a closed database."
        return False
    conn.close()  # close it, so one leak does not fail every later example
    return True


def _snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st_ = p.lstat()
            out[str(p.relative_to(root))] = (p.is_dir(), st_.st_size if not p.is_dir() else 0,
                                             st_.st_mtime_ns if not p.is_dir() else 0)
    return out


def _after(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == flag]


def _asked_to_write(argv: list[str], root: Path) -> list[Path]:
    """Paths the invocation may create or change: its --out (with parents), the database import writes,
    the backup db backup writes."""
    after = lambda flag: _after(argv, flag)  # noqa: E731
    words = [a for a in argv if not a.startswith("-")]
    cmd = next((w for w in words if w in {p[0] for p, _ in LEAVES}), None)
    dbs = after("--db") or [os.environ["TOKBENCH_DB"]]
    out = [root / p for p in after("--out")]
    if cmd == "import":
        out += [root / d for d in dbs]
    if cmd == "db":
        out += [Path(str(root / d) + ".backup-") for d in dbs]
    return out


SQLITE_SIDECARS = ("-wal", "-shm", "-journal")


def _allowed(rel: str, root: Path, targets: list[Path]) -> bool:
    p = root / rel
    if rel.endswith(SQLITE_SIDECARS):
        # SQLite's own files beside a database: a read-only connection (db check, db backup) leaves
        # empty -wal/-shm files that the next read-write close removes. They hold no user data.
        return True
    for t in targets:
        t_abs = t.resolve() if t.exists() else t
        if p == t or t in p.parents or p in t.parents or str(p).startswith(str(t)) or p.resolve() == t_abs:
            return True
    return False


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Files of every kind tokbench reads, a database with two runs, and things that must not change."""
    from tokbench.modelspec import load_spec
    from tokbench.records import RequestRecord
    from tokbench.store import open_store
    from tokbench.synth import DEFAULT_SPEC, synthesize

    root = tmp_path_factory.mktemp("clihyp")
    small = replace(DEFAULT_SPEC, n_layers=1, hidden=256, n_heads=4, n_kv_heads=2, head_dim=64, intermediate=512)
    synthesize(small, "Q8_0", root / "tiny.gguf", vocab=512)
    synthesize(load_spec("llama-3.1-8b"), "mlx-4bit", root / "mlx", scale_layers=1, scale_width=0.0625, vocab=512)
    (root / "cfg.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2,
                                               "num_attention_heads": 4, "num_key_value_heads": 2,
                                               "intermediate_size": 512, "vocab_size": 1024,
                                               "max_position_embeddings": 8192}))
    (root / "existing.txt").write_text("keep me")
    (root / "notadb.txt").write_text("not a database")
    (root / "emptydir").mkdir()
    (root / "fulldir").mkdir()
    (root / "fulldir" / "notes.md").write_text("mine")
    fixture = Path(__file__).parents[1] / "store" / "fixtures" / "llama_bench.json"
    (root / "llama_bench.json").write_bytes(fixture.read_bytes())
    with open_store(root / "data.db") as s:
        for name, itl in (("first", 0.1), ("second", 0.12)):
            run = s.create_run("bench", {"engine": "llama.cpp"}, {}, name=name)
            s.add_records(run, [RequestRecord(point="c=1 d=0", index=i, concurrency=1, context_depth=0,
                                              prompt_tokens=8, gen_tokens_requested=4, t_start=float(i),
                                              t_first_token=i + 0.1, t_end=i + 0.1 + 3 * itl,
                                              token_times=[i + 0.1 + k * itl for k in range(4)], output_tokens=4,
                                              status="ok") for i in range(4)])
            s.finish_run(run, "complete")
    from tokbench.catalog import hardware

    hardware._host.cache_clear()  # `--hardware host` here sees stubbed measurements: keep them out of
    yield root                    # the cache other tests read
    hardware._host.cache_clear()


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
@pytest.mark.parametrize("leaf", [p for p, _ in LEAVES], ids=[" ".join(p) for p, _ in LEAVES])
@given(data=st.data())
def test_generated_invocations(workdir, monkeypatch, leaf, data):
    import sqlite3

    argv = data.draw(invocations(leaf), label="argv")
    # The memory-bandwidth and matmul measurements behind `hw probe` and `--hardware host` take a second
    # or more each time; their results do not matter to argument handling (tests/env measures them).
    monkeypatch.setattr("tokbench.env.bandwidth.measure_bandwidth",
                        lambda *a, **k: {"bandwidth_gbs": 10.0, "method": "stub", "threads": 1})
    monkeypatch.setattr("tokbench.env.bandwidth.measure_matmul_tflops", lambda *a, **k: {"tflops": 0.1})
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("TOKBENCH_DB", str(workdir / "env.db"))
    opened = []
    real_connect = sqlite3.connect

    def connect(*a, **kw):  # every database connection a command opens must be closed when it ends
        conn = real_connect(*a, **kw)
        opened.append(conn)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    before = _snapshot(workdir)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv), parser=PARSER)
        except SystemExit as exc:  # argparse's own refusals
            code = exc.code
    text = err.getvalue()
    assert "Traceback" not in text, (argv, text)
    assert not [c for c in opened if _is_open(c)], (argv, "a database connection was left open")
    cmd = next(w for w in argv if w in {p[0] for p, _ in LEAVES})
    assert code in (0, 2) or (code == 1 and cmd in EXIT_1), (argv, code, text)
    if code == 2:
        lines = text.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("tokbench"), (argv, text)
    if code == 0 and "--json" in argv and "--out" not in argv:
        json.loads(out.getvalue())
    after = _snapshot(workdir)
    targets = _asked_to_write(argv, workdir)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert not {k for k in changed if not _allowed(k, workdir, targets)}, (argv, changed)
    if "--force" not in argv:  # without --force even the --out it names is kept when it holds something
        for t in (workdir / p for p in _after(argv, "--out")):
            rel = str(t.relative_to(workdir)) if t.is_relative_to(workdir) else None
            kept = {k: v for k, v in before.items() if rel and (k == rel or k.startswith(rel + "/"))}
            if kept and (before[rel][0] is False or len(kept) > 1):
                assert {k: after.get(k) for k in kept} == kept, (argv, "replaced an existing --out without --force")
    assert not [k for k in after if ".tokbench-tmp-" in k], (argv, after)
