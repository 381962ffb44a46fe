"""Published llama.cpp CPU-backend rows (data/published/cpu.csv) and their CPUs (cpu_hardware.csv) resolve and hold.

These files are inputs for fitting the CPU speed model on machines other than this workplace's VM; the package
does not read them yet. Each check returns the problems it finds, so the same function is run on the real files
(no problems) and on a corrupted copy (problems found): a check that cannot fail would prove nothing.
"""

import csv
import re
from importlib import resources
from pathlib import Path

from tokbench.catalog.engines import get_engine
from tokbench.errors import UserError
from tokbench.quant.presets import parse_quant
from tokbench.report.reference import model_spec

DATA = Path(__file__).resolve().parents[2] / "data" / "published"
GENERATIONS = {"cpu-x86-avx2", "cpu-x86-avx512", "cpu-arm"}
# A row is one measurement: the same machine, model, quant and test run by one engine build and thread count.
ROW_KEY = ("hardware_id", "model_id", "quant_id", "engine", "test", "metric")


def _read(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def _package_columns(name: str) -> list[str]:
    text = resources.files("tokbench.catalog").joinpath(name).read_text()
    return next(csv.reader(text.splitlines()))


def _resolves(loader, value: str) -> bool:
    try:
        loader(value)
    except (UserError, KeyError, ValueError):
        return False
    return True


def _positive(value: str) -> bool:
    try:
        return float(value) > 0
    except ValueError:
        return False


def row_problems(rows: list[dict], hardware: dict[str, dict]) -> list[tuple]:
    """Every (line, field) of cpu.csv rows that does not resolve, is not positive, or breaks a convention."""
    bad = []
    for i, r in enumerate(rows, start=2):
        checks = (
            ("hardware_id", r["hardware_id"] in hardware),
            ("model_id", _resolves(model_spec, r["model_id"])),
            ("quant_id", _resolves(parse_quant, r["quant_id"])),
            ("engine_id", _resolves(get_engine, r["engine_id"])),
            ("engine threads", re.search(r"\d+ threads|threads not stated", r["engine"]) is not None),
            ("tokens_per_s", _positive(r["tokens_per_s"])),
            ("bandwidth_gbs", r["hardware_id"] in hardware
             and _positive(r["bandwidth_gbs"])
             and float(r["bandwidth_gbs"]) == float(hardware[r["hardware_id"]]["bandwidth_gbs"])),
            ("metric", r["metric"] in ("decode", "prefill")),
            ("depth", r["depth"].isdigit()),
            ("concurrency", r["concurrency"] == "1"),
            ("source", bool(r["source"].strip())),
            ("role", r["role"] == ""),
        )
        bad += [(i, field) for field, ok in checks if not ok]
        m = re.fullmatch(r"(tg|pp)(\d+)(?: .*)?", r["test"])
        if m and (int(r["depth"] or -1) != int(m.group(2)) // 2
                  or r["metric"] != ("decode" if m.group(1) == "tg" else "prefill")):
            bad.append((i, "llama-bench depth/metric convention"))
    return bad


def duplicate_rows(rows: list[dict]) -> list[tuple]:
    """Keys that occur more than once."""
    seen, dups = set(), []
    for r in rows:
        key = tuple(r[k] for k in ROW_KEY)
        if key in seen:
            dups.append(key)
        seen.add(key)
    return dups


def hardware_problems(rows: list[dict]) -> list[tuple]:
    """Every (id, field) of cpu_hardware.csv that is missing, not positive or outside the CPU vocabulary."""
    bad = []
    for r in rows:
        checks = (
            ("id", r["id"].startswith("cpu-")),
            ("kind", r["kind"] == "cpu"),
            ("generation", r["generation"] in GENERATIONS),
            ("bandwidth_gbs", _positive(r["bandwidth_gbs"])),
            ("compute_units", r["compute_units"].isdigit() and int(r["compute_units"]) > 0),
            ("clock_mhz", r["clock_mhz"] == "" or _positive(r["clock_mhz"])),
            ("memory_type", bool(r["memory_type"].strip())),
            ("source", bool(r["source"].strip())),
        )
        bad += [(r["id"], field) for field, ok in checks if not ok]
    return bad


def _hardware() -> dict[str, dict]:
    return {r["id"]: r for r in _read(DATA / "cpu_hardware.csv")[1]}


def _rows() -> list[dict]:
    return _read(DATA / "cpu.csv")[1]


def test_files_have_the_package_columns():
    assert _read(DATA / "cpu.csv")[0] == _package_columns("data/published_measurements.csv")
    assert _read(DATA / "cpu_hardware.csv")[0] == _package_columns("data/hardware.csv")


def test_every_row_resolves_with_tokbench_loaders():
    assert row_problems(_rows(), _hardware()) == []


def test_no_duplicate_rows_or_hardware_ids():
    assert duplicate_rows(_rows()) == []
    ids = [r["id"] for r in _read(DATA / "cpu_hardware.csv")[1]]
    assert len(ids) == len(set(ids))


def test_every_cpu_is_sound_and_used():
    hardware = _hardware()
    assert hardware_problems(list(hardware.values())) == []
    assert set(hardware) == {r["hardware_id"] for r in _rows()}


def test_coverage_the_fit_needs():
    """Leave-one-machine-out needs several CPUs, more than one SIMD family, and decode rows on most of them."""
    rows, hardware = _rows(), _hardware()
    decode = [r for r in rows if r["metric"] == "decode"]
    assert len(decode) >= 40
    assert len({r["hardware_id"] for r in decode}) >= 8
    assert len({hardware[r["hardware_id"]]["generation"] for r in decode}) >= 2


def test_the_checks_catch_corrupted_values():
    rows, hardware = [dict(r) for r in _rows()], _hardware()
    bad_rows = [dict(rows[0], tokens_per_s="-3"), dict(rows[1], model_id="llama-9-99b"),
                dict(rows[2], quant_id="Q9_Z"), dict(rows[3], hardware_id="cpu-unknown"),
                dict(rows[4], engine_id="no-such-engine"), dict(rows[5], depth="999"),
                dict(rows[6], bandwidth_gbs="1.5")]
    fields = {field for _, field in row_problems(bad_rows, hardware)}
    assert fields >= {"tokens_per_s", "model_id", "quant_id", "hardware_id", "engine_id",
                      "llama-bench depth/metric convention", "bandwidth_gbs"}
    assert duplicate_rows(rows + [dict(rows[0])]) == [tuple(rows[0][k] for k in ROW_KEY)]
    broken = dict(next(iter(hardware.values())), generation="cpu-x86-avx9", compute_units="0", kind="nvidia")
    assert {f for _, f in hardware_problems([broken])} == {"generation", "compute_units", "kind"}
