"""The results document and its Markdown rendering."""

from __future__ import annotations

import json
import re

import pytest

from tb_report_runs import make_run
from tokbench.report.document import SCHEMA, SCHEMA_VERSION, build_document
from tokbench.report.markdown import md_escape, render_markdown
from tokbench.report.tables import all_tables
from tokbench.store import open_store

EVIL = "<script>alert(1)</script> | *x*"


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    db = tmp_path_factory.mktemp("doc") / "d.db"
    make_run(db, [dict(depth=0, conc=1, n=6, ttft_s=0.02, itl_s=0.0025), dict(depth=0, conc=8, n=16, ttft_s=0.05,
                                                                           itl_s=0.006)], name="h100")
    make_run(db, [dict(depth=0, conc=1, n=4, ttft_s=0.02, itl_s=0.01)],
             config={"model": EVIL, "quant": "Q4_K_M", "engine": "mlx"}, environment={"host": "evil"}, name="evil")
    with open_store(db) as s:
        return build_document(s)


def test_document_is_versioned_self_describing_strict_json(doc):
    assert doc["schema"] == SCHEMA and doc["schema_version"] == SCHEMA_VERSION
    assert set(doc["provenance"]) == {"measured", "estimated", "reported"}
    json.dumps(doc, allow_nan=False)  # strict JSON: no NaN/inf anywhere
    assert [r["name"] for r in doc["runs"]] == ["h100", "evil"]
    run = doc["runs"][0]
    assert [(s["concurrency"], s["ok"]) for s in run["summaries"]] == [(1, 6), (8, 16)]
    assert len(run["samples"]["c=8 d=0"]["ttft_ms"]) == 16
    assert len(run["samples"]["c=8 d=0"]["itl_ms"]) == 16 * 31
    assert run["estimates"][0]["plan"]["decode_tps"] > 0  # h100-sxm + synthetic llama: the planner answers
    assert doc["runs"][1]["estimates"] == []  # no hardware known: no estimate, no crash
    assert len(doc["reference_rows"]) >= 90 and doc["validation"]["rows"]


def test_every_number_cell_has_provenance_and_source(doc):
    tables = all_tables(doc)
    titles = [t["title"] for t in tables]
    for want in ("Measured runs", "Single-stream decode tok/s by hardware and quant: qwen3-30b-a3b",
                 "Per-stream decode tok/s by concurrency", "Memory and fit", "Estimated performance",
                 "Engines side by side (same model, bits and hardware)", "Planner validation"):
        assert want in titles
    for t in tables:
        for row in t["rows"]:
            assert len(row) == len(t["columns"])
            for cell in row:
                for e in cell if isinstance(cell, list) else []:
                    assert e["provenance"] in ("measured", "estimated", "reported") and e["source"]


def test_seed_layouts_hold_the_seed_figures(doc):
    by = {t["title"]: t for t in all_tables(doc)}
    conc = by["Per-stream decode tok/s by concurrency"]
    row = next(r for r in conc["rows"] if r[0] == "gpt-oss-120b" and r[1] == "m3-ultra-80c:256")
    c1, c8 = conc["columns"].index("1 concurrent"), conc["columns"].index("8 concurrent")
    assert "69.4" in [e["text"] for e in row[c1]] and "19.1" in [e["text"] for e in row[c8]]
    assert {e["provenance"] for e in row[c1]} == {"reported", "estimated"}
    mem = by["Memory and fit"]
    assert "Fits m3-ultra-80c:512?" in mem["columns"]
    eng = by["Engines side by side (same model, bits and hardware)"]
    assert {"llama.cpp", "mlx"} <= set(eng["columns"])


def test_markdown_labels_footnotes_and_escapes(doc):
    md = render_markdown(doc)
    notes = set(re.findall(r"\[\^(\d+)\](?!:)", md))
    defined = set(re.findall(r"^\[\^(\d+)\]:", md, flags=re.M))
    assert notes and notes == defined  # every footnote used is defined and vice versa
    assert "69.4 R[^" in md and " M[^" in md and " E[^" in md
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert "https://blog.olares.com/local-ai-hardware-performance-benchmarking/" in md
    pipes = lambda line: len(re.findall(r"(?<!\\)\|", line))  # noqa: E731 - unescaped pipes
    header = None
    for line in md.splitlines():
        if line.startswith("| ") and header is None:
            header = pipes(line)
        elif not line.startswith("|"):
            header = None
        elif header is not None:
            assert pipes(line) == header, line  # the "|" in the model name made no extra column


def test_md_escape():
    assert md_escape("a|b <i>") == "a\\|b &lt;i&gt;"


def test_imported_run_without_raw_rows_reaches_the_report(tmp_path):
    from pathlib import Path

    from tokbench.cli.main import main

    db = tmp_path / "imp.db"
    fixture = Path(__file__).parents[1] / "store" / "fixtures" / "llama_bench.jsonl"
    assert main(["import", str(fixture), "--db", str(db)]) == 0
    with open_store(db) as s:
        runs = build_document(s, with_reference=False)["runs"]
    assert runs and all(r["summaries"] for r in runs)  # summaries come from the file, not raw rows
    assert any((p.get("decode_tps_per_stream") or {}).get("p50") for r in runs for p in r["summaries"])
