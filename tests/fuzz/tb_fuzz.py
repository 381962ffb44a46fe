"""Seeded mutation fuzzing for tokbench's readers of hostile input (GGUF headers, config.json).

A seeded loop rather than hypothesis: 10,000+ inputs must run in seconds, be reproducible from
(seed, index) alone, and be reusable by benchmarks/reliability.py. Each input runs under a
per-input wall-clock alarm (a hang fails at once, naming the input) and tracemalloc (its peak
allocation must stay bounded); the only exception allowed out of a reader is a one-line UserError.
"""

from __future__ import annotations

import json
import random
import re
import signal
import struct
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tokbench.errors import UserError

SPEC_HELPERS = Path(__file__).resolve().parents[1] / "modelspec"

# Values that break careless readers: huge counts, negatives, wrong types, deep nesting.
HOSTILE_U64 = (0, 1, 2, 3, 7, 255, 256, 1 << 16, 1 << 31, 1 << 32, 1 << 40, 1 << 60, 1 << 63, 2**64 - 1)
HOSTILE_VALUES = (None, True, False, 0, -1, -(2**63), 2**63, 2**200, 1.5, -0.0, float("inf"), float("nan"),
                  "", "x" * 1000, "32", [], [1, 2], [None], {}, {"a": 1}, [[[[[]]]]], "full_attention")


class Hang(Exception):
    """Raised by the per-input alarm."""


@dataclass
class FuzzStats:
    """What a fuzz loop saw: inputs, outcomes, the slowest input and the largest peak allocation."""

    inputs: int = 0
    traced: int = 0  # inputs whose peak allocation was measured
    accepted: int = 0
    rejected: int = 0
    max_s: float = 0.0
    max_peak_bytes: int = 0
    messages: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {"inputs": self.inputs, "traced": self.traced, "accepted": self.accepted, "rejected": self.rejected,
                "max_input_s": round(self.max_s, 4), "max_peak_kib": round(self.max_peak_bytes / 1024, 1),
                "distinct_errors": len(self.messages)}


def _on_alarm(signum, frame):
    raise Hang()


def fuzz_loop(inputs, target: Callable[[object], object], time_bound_s: float = 2.0,
              memory_bound_bytes: int = 64 << 20, trace_every: int = 1) -> FuzzStats:
    """Run ``target`` on each input; fail (AssertionError naming the input) on anything but a
    one-line UserError, on an input slower than ``time_bound_s`` or allocating more than
    ``memory_bound_bytes`` at its peak.

    Tracing allocations makes each input ~6x slower, so ``trace_every`` = k measures the peak of
    every k-th input (the time bound always applies to every input)."""
    stats = FuzzStats()
    old = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        for i, data in enumerate(inputs):
            traced = i % trace_every == 0
            if traced:
                tracemalloc.start()
            t0 = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, time_bound_s)
            try:
                target(data)
                stats.accepted += 1
            except UserError as exc:
                msg = str(exc)
                assert msg and "\n" not in msg, f"input {i}: UserError is not one line: {msg!r}"
                stats.rejected += 1
                stats.messages[_kind(msg)] += 1
            except Hang:
                raise AssertionError(f"input {i}: no result within {time_bound_s} s: {_show(data)}") from None
            except Exception as exc:  # noqa: BLE001 - the point of the test
                raise AssertionError(f"input {i}: {type(exc).__name__}: {exc} on {_show(data)}") from exc
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                dt = time.perf_counter() - t0
                peak = tracemalloc.get_traced_memory()[1] if traced else 0
                if traced:
                    tracemalloc.stop()
            assert peak < memory_bound_bytes, f"input {i}: peak allocation {peak} bytes: {_show(data)}"
            stats.inputs += 1
            stats.traced += traced
            stats.max_s = max(stats.max_s, dt)
            stats.max_peak_bytes = max(stats.max_peak_bytes, peak)
    finally:
        tracemalloc.stop()
        signal.signal(signal.SIGALRM, old)
    return stats


def _kind(msg: str) -> str:
    """The kind of an error message: label and numbers dropped, first words kept."""
    body = msg.split(": ", 1)[-1]
    return " ".join(re.sub(r"\d+", "N", body).split()[:7])


def _show(data) -> str:
    text = data.hex() if isinstance(data, (bytes, bytearray)) else repr(data)
    return text[:300]


# ---- GGUF -----------------------------------------------------------------------------------

def gguf_seeds(tmp: Path) -> list[bytes]:
    """Valid GGUF headers (tensor data cut off) of several architectures, written by the spec tests' writer."""
    if str(SPEC_HELPERS) not in sys.path:
        sys.path.insert(0, str(SPEC_HELPERS))
    from gguf_spec_writer import write_spec_gguf
    from tiny_specs import tiny_specs

    from tokbench.modelspec.gguf_header import parse_gguf_header

    out = []
    for arch in ("llama", "qwen3moe", "deepseek2", "gemma3"):
        raw = write_spec_gguf(tiny_specs()[arch], tmp / f"{arch}.gguf").read_bytes()
        end = parse_gguf_header(raw).data_offset
        out.append(raw[:end])
    return out


def _u64_positions(raw: bytes) -> list[int]:
    """Byte offsets of the tensor count, kv count and each string / array length: where hostile
    counts do the most damage."""
    pos = [8, 16]
    i = 24
    while i + 8 <= len(raw) and len(pos) < 4000:
        (n,) = struct.unpack_from("<Q", raw, i)
        if 0 < n < 4096:  # looks like a length prefix
            pos.append(i)
        i += 4
    return pos


def mutate_bytes(rng: random.Random, raw: bytes, hot: list[int]) -> bytes:
    """One to a few random edits: byte flips, hostile u64s at length fields, cuts, splices."""
    b = bytearray(raw)
    for _ in range(rng.choice((1, 1, 2, 3, 5))):
        op = rng.randrange(7)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1 and b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif op == 2:
            i = rng.choice(hot)
            if i + 8 <= len(b):
                struct.pack_into("<Q", b, i, rng.choice(HOSTILE_U64))
        elif op == 3 and b:
            del b[rng.randrange(len(b)):]  # truncate
        elif op == 4 and b:
            i = rng.randrange(len(b))
            del b[i:i + rng.randrange(1, 64)]
        elif op == 5:
            i = rng.randrange(len(b) + 1)
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        elif op == 6 and len(b) > 16:
            i, j = rng.randrange(len(b)), rng.randrange(len(b))
            b[i:i + 8] = b[j:j + 8]  # duplicate another field's bytes
    return bytes(b)


def gguf_inputs(seeds: list[bytes], n: int, seed: int = 0):
    """``n`` mutated headers, deterministic in ``seed``."""
    rng = random.Random(seed)
    hots = [_u64_positions(s) for s in seeds]
    for _ in range(n):
        k = rng.randrange(len(seeds))
        yield mutate_bytes(rng, seeds[k], hots[k])


def gguf_target(data: bytes) -> None:
    """The reader as users hit it: parse the header, then build the ModelSpec and its tensor list."""
    from tokbench.modelspec.gguf_header import parse_gguf_header, spec_from_header

    header = parse_gguf_header(data, require_data=False)
    spec = spec_from_header(header, "<fuzz>")
    spec.tensors()


# ---- config.json ----------------------------------------------------------------------------

def config_seeds() -> list[dict]:
    """Every catalog model's config.json (all supported families)."""
    from tokbench.catalog.models import catalog

    return [json.loads(json.dumps(e["config"])) for e in catalog().values()]


def _mutate_tree(rng: random.Random, cfg: dict) -> dict:
    cfg = json.loads(json.dumps(cfg))
    for _ in range(rng.choice((1, 1, 2, 3, 6))):
        keys = list(cfg)
        op = rng.randrange(5)
        if op == 0 and keys:
            cfg[rng.choice(keys)] = rng.choice(HOSTILE_VALUES)
        elif op == 1 and keys:
            del cfg[rng.choice(keys)]
        elif op == 2 and keys:
            k = rng.choice(keys)
            if isinstance(cfg[k], int) and not isinstance(cfg[k], bool):
                cfg[k] = rng.choice((cfg[k] * rng.choice((2, 3, 1000, 10**9)), cfg[k] - 1, -cfg[k], cfg[k] + 1))
        elif op == 3:
            cfg[rng.choice(("text_config", "layer_types", "rope_scaling", "quantization", "sliding_window",
                            "num_experts", "rope_parameters", "head_dim"))] = rng.choice(HOSTILE_VALUES)
        elif op == 4:
            cfg = rng.choice(({"text_config": cfg}, cfg, [cfg], "cfg", None)) if rng.random() < 0.2 else cfg
            if not isinstance(cfg, dict):
                return cfg
    return cfg


def config_inputs(seeds: list[dict], n: int, seed: int = 0):
    """``n`` inputs: most are mutated config trees, some mutated JSON text (bytes)."""
    rng = random.Random(seed)
    for _ in range(n):
        base = rng.choice(seeds)
        if rng.random() < 0.25:
            text = json.dumps(base).encode()
            yield mutate_bytes(rng, text, list(range(0, max(len(text) - 8, 1), 7)))
        else:
            yield _mutate_tree(rng, base)


def config_target(data) -> None:
    """JSON text through the file reader's parsing rules, trees straight into ``spec_from_config``;
    then the ModelSpec's tensor list (what plan and synth use next)."""
    from tokbench.modelspec.hf_config import spec_from_config

    if isinstance(data, bytes):
        try:
            data = json.loads(data)
        except (UnicodeDecodeError, ValueError):
            return  # read_json turns these into a UserError; covered by the spec tests
    spec = spec_from_config(data, name="fuzz")
    spec.tensors()


# ---- reader + planner + renderer, as `tokbench plan FILE` runs them ---------------------------

# --extrapolate: the seeds are 512-token models, planned at 8K (past their maximum) on purpose.
PLAN_ARGS = ("--hardware", "h100-sxm,m3-ultra-80c:512", "--context", "8k", "--extrapolate", "--concurrency", "4")


def check_plan_rows(doc: dict) -> None:
    """What every plan row must satisfy whatever the file said: finite, non-negative sizes and rates,
    a KV cache for models with attention layers, a decode rate below its bandwidth ceiling's band."""
    import math

    assert doc["rows"], doc
    for r in doc["rows"]:
        for k, v in r.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                assert math.isfinite(v) and (v >= 0 or k == "free_bytes"), (k, v)
        assert r["weights_bytes"] > 0 and r["total_bytes"] >= r["weights_bytes"]
        assert r["decode_tps"] > 0 and r["aggregate_decode_tps"] > 0, r


def plan_cli_target(tmp: Path, argv_tail: tuple[str, ...] = PLAN_ARGS, kind: str = "gguf"):
    """A target running ``tokbench plan FILE ...`` in process on each input written to ``tmp``: the
    reader, the spec's consistency check, the planner and, on every other input, the terminal
    renderer (the rest print ``--json``, whose rows must pass :func:`check_plan_rows`). Exit 2
    becomes the UserError fuzz_loop counts (its message must be one line); anything else escapes
    as the failure it is. ``kind``: inputs are GGUF bytes, or config.json trees / text (``config``)."""
    import contextlib
    import io

    from tokbench.cli.main import build_parser, main

    parser = build_parser()  # built once: argparse set-up costs more than a small plan
    count = [0]

    def target(data) -> None:
        if kind == "gguf":
            model = tmp / "fuzz.gguf"
            _write_with_data(model, bytes(data))
        else:
            model = tmp / "config.json"
            model.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
        count[0] += 1
        as_json = count[0] % 2 == 0
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["plan", str(model), *argv_tail, *(["--json"] if as_json else [])], parser=parser)
        if code == 2:
            lines = err.getvalue().strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("tokbench: error: "), err.getvalue()
            raise UserError(lines[0].removeprefix("tokbench: error: "))
        assert code == 0, (code, err.getvalue()[-500:])
        if as_json:
            check_plan_rows(json.loads(out.getvalue()))
        else:
            assert "Decode speed" in out.getvalue()

    return target


def _write_with_data(path: Path, header: bytes) -> None:
    """The header followed by a (sparse, zero) data section as long as its tensors need, when that
    is a size a file can have: the seeds are headers with the tensor data cut off."""
    import os

    from tokbench.modelspec.gguf_header import parse_gguf_header

    path.write_bytes(header)
    try:
        h = parse_gguf_header(header, require_data=False)
    except UserError:
        return
    need = h.data_offset + max((t.offset + t.nbytes for t in h.tensors), default=0)
    if len(header) < need < 1 << 40:
        os.truncate(path, need)


def parsing_gguf_inputs(seeds: list[bytes], n: int, seed: int = 0):
    """``n`` mutated headers that the GGUF reader still parses (the inputs that reach the spec check
    and the planner)."""
    from tokbench.modelspec.gguf_header import parse_gguf_header

    for data in gguf_inputs(seeds, 50 * n, seed):
        try:
            parse_gguf_header(data, require_data=False)
        except UserError:
            continue
        yield data
        n -= 1
        if n == 0:
            return


# Values a lying header gives a count or a width: zero, tiny, larger than any model, past 32 bits.
LYING_U32 = (0, 1, 2, 3, 5, 7, 64, 127, 4096, 65536, 1 << 31, 2**32 - 1)


def _hparam_slots(raw: bytes) -> list[tuple[int, str, str]]:
    """(offset, struct format, key) of every integer ``{arch}.*`` value in a header: where a header
    that still parses can lie about the model's shape."""
    from tokbench.modelspec.gguf_header import parse_gguf_header

    h = parse_gguf_header(raw, require_data=False)
    fmts = {4: "<I", 5: "<i", 10: "<Q", 11: "<q"}
    slots = []
    for key, value in h.metadata.items():
        if not key.startswith(f"{h.arch}.") or isinstance(value, bool) or not isinstance(value, int):
            continue
        needle = struct.pack("<Q", len(key)) + key.encode()
        at = raw.find(needle) + len(needle)
        (type_id,) = struct.unpack_from("<I", raw, at)
        if type_id in fmts:
            slots.append((at + 4, fmts[type_id], key))
    return slots


def lying_gguf_inputs(seeds: list[bytes], n: int, seed: int = 0):
    """``n`` (header, seed index, {key: value}) where the header parses but lies: one to three of
    its ``{arch}.*`` integers replaced by a value from LYING_U32 (expert_count 0, 4096 KV heads,
    key_length 0 ...)."""
    rng = random.Random(seed)
    slots = [_hparam_slots(s) for s in seeds]
    for _ in range(n):
        k = rng.randrange(len(seeds))
        b = bytearray(seeds[k])
        lies = {}
        for at, fmt, key in rng.sample(slots[k], rng.choice((1, 1, 2, 3))):
            v = rng.choice(LYING_U32)
            v = min(v, 2**31 - 1) if fmt == "<i" else v
            struct.pack_into(fmt, b, at, v)
            lies[key] = v
        yield bytes(b), k, lies


def shape_facts(spec) -> tuple:
    """What a GGUF's tensors fix about its model: an accepted header must agree with its seed here."""
    q = spec.n_heads * spec.head_dim
    if spec.kv_lora_rank:
        return (spec.n_layers, spec.hidden, spec.n_experts, q, spec.n_heads, spec.kv_lora_rank + spec.qk_rope_dim,
                spec.q_lora_rank, spec.v_head_dim, spec.qk_nope_dim)
    return spec.n_layers, spec.hidden, spec.n_experts, q, spec.n_kv_heads * spec.head_dim
