"""Headers that parse but lie, through `tokbench plan`: with and without the model-spec check.

Usage: python benchmarks/plan_fuzz.py [--out benchmarks/results/plan_fuzz.json]

Runs the inputs of tests/fuzz/test_fuzz_plan.py, and more of them, through ``tokbench plan FILE``
in process (reader, spec check, planner, renderer; tests/fuzz/tb_fuzz.plan_cli_target), once as
shipped and once with :func:`tokbench.modelspec.check.check_spec` replaced by the identity (what
``plan`` did before the check existed). For each input set: inputs, planned (exit 0), refused
(exit 2, one line), crashes by exception type. Lying headers that were planned are counted again
by whether what the file's tensors fix (layers, widths, expert count) agrees with the header they
were mutated from. Writes JSON with the machine and its load named.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
sys.path.insert(0, str(ROOT / "tests" / "modelspec"))

from tb_fuzz import (PLAN_ARGS, config_inputs, config_seeds, gguf_seeds, lying_gguf_inputs,  # noqa: E402
                     parsing_gguf_inputs, plan_cli_target, shape_facts)
from tokbench.errors import UserError  # noqa: E402


def _run(items, target, facts=None) -> dict:
    from tokbench.modelspec.gguf_header import parse_gguf_header, spec_from_header

    out = {"inputs": 0, "planned": 0, "refused": 0, "crashes": {}, "planned_lies": 0}
    t0 = time.perf_counter()
    for item in items:
        data, k = (item[0], item[1]) if isinstance(item, tuple) else (item, None)
        out["inputs"] += 1
        try:
            target(data)
        except UserError:
            out["refused"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - counted, the point of the benchmark
            name = type(exc).__name__
            out["crashes"][name] = out["crashes"].get(name, 0) + 1
            continue
        out["planned"] += 1
        if facts is not None and k is not None:
            # spec_from_header with the check: a contradiction it refuses is a lie that was planned
            try:
                got = shape_facts(spec_from_header(parse_gguf_header(data, require_data=False), "x"))
            except UserError:
                got = None
            out["planned_lies"] += got != facts[k]
    if facts is None:
        del out["planned_lies"]  # only lying headers know what their seed's tensors fix
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def measure(tmp: Path) -> dict:
    from tokbench.modelspec.gguf_header import parse_gguf_header, spec_from_header

    seeds = gguf_seeds(tmp)
    facts = [shape_facts(spec_from_header(parse_gguf_header(s, require_data=False), "seed")) for s in seeds]
    sets = {
        "lying headers (1000, seed 1)": (lambda: list(lying_gguf_inputs(seeds, 1000, seed=1)), plan_cli_target(tmp), facts),
        "mutated headers that parse (1500, seed 11)": (lambda: list(parsing_gguf_inputs(seeds, 1500, seed=11)),
                                                       plan_cli_target(tmp), None),
        "mutated config.json (1500, seed 5)": (lambda: list(config_inputs(config_seeds(), 1500, seed=5)),
                                               plan_cli_target(tmp, PLAN_ARGS + ("--quant", "Q4_K_M"), kind="config"),
                                               None),
    }
    import tokbench.modelspec.check as check
    import tokbench.modelspec.gguf_header as gh
    import tokbench.modelspec.hf_config as hc

    results = {}
    for name, (make, target, f) in sets.items():
        items = make()
        results[name] = {"with check": _run(items, target, f)}
        real = check.check_spec
        gh.check_spec = hc.check_spec = lambda spec, label, source="gguf": spec
        try:
            results[name]["without check"] = _run(items, target, f)
        finally:
            gh.check_spec = hc.check_spec = real
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "plan_fuzz.json"))
    args = ap.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as d:
        results = measure(Path(d))
    doc = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                       "python": platform.python_version(), "loadavg_before": [round(x, 2) for x in load_before],
                       "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
           "plan_args": list(PLAN_ARGS), "results": results}
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
