"""The collected published data (data/published/) resolves with tokbench's own loaders and adds, never repeats.

These files are inputs for the speed-model rebuild (issues 15 and 11); they are not read by the package yet.
"""

import csv
import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pytest

from tokbench.catalog.engines import get_engine
from tokbench.catalog.hardware import get_hardware
from tokbench.errors import UserError
from tokbench.quant.presets import parse_quant
from tokbench.report.reference import model_spec

DATA = Path(__file__).resolve().parents[2] / "data" / "published"
PACKAGE_CSV = "data/published_measurements.csv"
CLUSTER_COLS = ["hardware_id", "nodes", "gpus_per_node", "link", "split", "engine", "model_id", "quant_id", "metric",
                "tokens_per_s", "single_node_tokens_per_s", "source", "notes"]
COMPUTE_COLS = ["hardware_id", "generation", "sm_or_cores", "boost_clock_mhz", "compute_capability", "l2_mb",
                "memory_type", "source"]
METRICS = {"decode", "prefill", "per_stream", "aggregate"}


def _read(text: str) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(text.splitlines())
    return list(reader.fieldnames or []), list(reader)


def _file(name: str) -> tuple[list[str], list[dict]]:
    return _read((DATA / name).read_text())


def _package(name: str) -> tuple[list[str], list[dict]]:
    return _read(resources.files("tokbench.catalog").joinpath(name).read_text())


@lru_cache(maxsize=1)
def _needed_hardware() -> dict[str, dict]:
    return {r["id"]: r for r in _file("hardware_needed.csv")[1]}


@lru_cache(maxsize=1)
def _needed_models() -> dict:
    return json.loads((DATA / "models_needed.json").read_text())


@lru_cache(maxsize=None)
def _hardware_ok(hw_id: str) -> bool:
    if hw_id in _needed_hardware():
        return True
    try:
        get_hardware(hw_id, largest_variant=True)
    except UserError:
        return False
    return True


@lru_cache(maxsize=None)
def _model_ok(model_id: str) -> bool:
    if model_id in _needed_models():
        return True
    try:
        model_spec(model_id)
    except UserError:
        return False
    return True


def _bandwidth(hw_id: str) -> float:
    if hw_id in _needed_hardware():
        return float(_needed_hardware()[hw_id]["bandwidth_gbs"])
    return get_hardware(hw_id, largest_variant=True).bandwidth_gbs


def _measurement_files() -> list[str]:
    return [n for n in ("decode_prefill.csv", "h200.csv") if (DATA / n).exists()]


@pytest.mark.parametrize("name", ["decode_prefill.csv", "h200.csv"])
def test_measurement_files_have_the_package_columns(name):
    if not (DATA / name).exists():
        pytest.skip(f"no {name}: no public figure of that kind was found")
    assert _file(name)[0] == _package(PACKAGE_CSV)[0]


def test_every_measurement_row_resolves_and_is_positive():
    bad = []
    for name in _measurement_files():
        for i, r in enumerate(_file(name)[1], start=2):
            problems = [f for f, ok in (
                ("hardware_id", _hardware_ok(r["hardware_id"])), ("model_id", _model_ok(r["model_id"])),
                ("metric", r["metric"] in METRICS), ("source", bool(r["source"].strip())),
                ("tokens_per_s", float(r["tokens_per_s"]) > 0), ("depth", int(r["depth"]) >= 0),
                ("concurrency", int(r["concurrency"]) >= 1), ("role", r["role"] == ""),
            ) if not ok]
            parse_quant(r["quant_id"])
            get_engine(r["engine_id"])
            if problems:
                bad.append((name, i, problems))
    assert not bad


def test_h200_figures_stay_out_of_the_fit_file():
    assert all(r["hardware_id"].split(":")[0] != "h200" for r in _file("decode_prefill.csv")[1])


def test_bandwidth_column_is_the_catalog_or_needed_figure():
    rows = [r for n in _measurement_files() for r in _file(n)[1]]
    assert all(float(r["bandwidth_gbs"]) == _bandwidth(r["hardware_id"]) for r in rows)


def test_llama_bench_depth_follows_the_package_convention():
    """tgN / ppN start at depth D and process N tokens: the mean depth is D + N/2, as the package's rows set it."""
    checked = 0
    for name in _measurement_files():
        for r in _file(name)[1]:
            m = re.fullmatch(r"(tg|pp)(\d+)(?: @ d(\d+))?(?: .*)?", r["test"])
            if not m:
                continue
            checked += 1
            assert int(r["depth"]) == int(m.group(3) or 0) + int(m.group(2)) // 2, r
            assert r["metric"] == ("decode" if m.group(1) == "tg" or r["test"].endswith("-ub 1") else "prefill"), r
    assert checked > 500


def _shown_equal(shown: str, value: str) -> bool:
    digits = len(shown.split(".")[1]) if "." in shown else 0
    return round(float(value), digits) == float(shown)


def test_no_row_repeats_a_package_measurement():
    package = [r for r in _package(PACKAGE_CSV)[1]]
    keys = ("model_id", "quant_id", "metric", "depth", "concurrency")
    repeats = [
        (r["hardware_id"], r["model_id"], r["test"], r["tokens_per_s"])
        for n in _measurement_files() for r in _file(n)[1] for p in package
        if p["hardware_id"].split(":")[0] == r["hardware_id"] and all(p[k] == r[k] for k in keys)
        and _shown_equal(p["tokens_per_s"], r["tokens_per_s"])
    ]
    assert not repeats


def test_no_row_is_listed_twice():
    cols = ("hardware_id", "model_id", "quant_id", "engine", "test", "metric", "depth", "concurrency", "tokens_per_s")
    rows = [tuple(r[c] for c in cols) for n in _measurement_files() for r in _file(n)[1]]
    assert len(rows) == len(set(rows))


def test_cluster_rows_resolve():
    cols, rows = _file("clusters.csv")
    assert cols == CLUSTER_COLS and rows
    for r in rows:
        ids = [h for h in r["hardware_id"].split(";") if h]
        assert all(_hardware_ok(h) for h in ids), r
        assert not r["model_id"] or _model_ok(r["model_id"]), r
        if r["quant_id"]:
            parse_quant(r["quant_id"])
        # an id left empty must be explained (the source does not name it or it is not in the catalog)
        assert (ids and r["model_id"] and r["quant_id"]) or r["notes"].strip(), r
        # more than one device, or one device reached through a loopback RPC server (the RPC overhead alone)
        assert int(r["nodes"]) * int(r["gpus_per_node"]) >= 2 or r["link"] == "loopback", r
        assert r["metric"] in METRICS
        assert float(r["tokens_per_s"]) > 0 and r["source"].strip()
        assert r["single_node_tokens_per_s"] == "" or float(r["single_node_tokens_per_s"]) > 0


def test_needed_hardware_is_merged_into_the_catalog():
    # The ids the published rows needed are catalog entries now (merged with their compute facts);
    # the catalog keeps their bandwidth, memory options and source.
    cols, rows = _file("hardware_needed.csv")
    assert set(cols) <= set(_package("data/hardware.csv")[0])
    for r in rows:
        hw = get_hardware(r["id"])
        assert hw.bandwidth_gbs == float(r["bandwidth_gbs"]) and hw.kind == r["kind"], r["id"]
        assert r["source"].split(";")[0] in hw.source
        assert all(float(x) > 0 for x in r["memory_options_gb"].split(";"))


def test_every_hardware_id_has_compute_facts():
    cols, rows = _file("hardware_compute.csv")
    assert cols == COMPUTE_COLS
    by_id = {r["hardware_id"]: r for r in rows}
    catalog_ids = {r["id"] for r in _package("data/hardware.csv")[1] if r["kind"] != "cpu"}  # CPUs: cpu_hardware.csv
    assert catalog_ids == set(by_id)
    for r in rows:
        assert r["generation"] and r["memory_type"] and r["source"].strip(), r
        for f in ("sm_or_cores", "boost_clock_mhz", "compute_capability", "l2_mb"):
            assert r[f] == "" or float(r[f]) > 0, (r["hardware_id"], f)
