"""Report footnotes name a run's machine in words, never as a raw Python dict (issue 17)."""

from __future__ import annotations

import re

from tb_report_runs import make_run
from tokbench.report.document import build_document
from tokbench.report.markdown import render_markdown
from tokbench.report.tables import host_text
from tokbench.store import open_store


def _bench_environment() -> dict:
    """The environment a bench run stores: the host probe (a dict) under "host", as the bench pipeline writes it."""
    from tokbench.bench.start import host_environment

    return {"host": host_environment(), "engine": {"name": "llama.cpp", "version": "test"}}


def test_footnotes_of_a_run_with_a_probed_host_are_words(tmp_path):
    env = _bench_environment()
    assert isinstance(env["host"], dict)
    db = tmp_path / "r.db"
    make_run(db, [dict(depth=0, conc=1, n=4, ttft_s=0.02, itl_s=0.003)], environment=env, name="probe")
    with open_store(db) as store:
        md = render_markdown(build_document(store, None, with_reference=False))
    notes = [line for line in md.splitlines() if re.match(r"\[\^\d+\]:", line)]
    run_notes = [n for n in notes if "tokbench run" in n]
    assert run_notes, notes
    for n in run_notes:
        assert "{" not in n and "}" not in n and "'cpu'" not in n, n
        assert env["host"]["host"] in n and f"{env['host']['cpu_count']} cores" in n


def test_host_text():
    host = {"host": "box", "cpu": "AMD EPYC", "cpu_count": 2, "memory_bytes": 24 * 2**30,
            "nvidia": [{"name": "NVIDIA H100 80GB HBM3"}], "hardware": {"label": "h100-sxm:80"}}
    assert host_text(host) == "box: AMD EPYC, 2 cores, 24 GiB RAM, NVIDIA H100 80GB HBM3, planned as h100-sxm:80"
    assert host_text("testhost") == "testhost" and host_text(None) == "this machine" and host_text({}) == "this machine"


def test_imported_runs_are_labelled_with_tool_and_file(tmp_path):
    """Imported llama-bench rows in the seed tables and the HTML charts: 'imported (llama-bench)', the file named."""
    from pathlib import Path

    from tokbench.report.html import render_html
    from tokbench.report.tables import all_tables
    from tokbench.store.importers import read_file, store_import

    fix = Path(__file__).parents[1] / "store" / "fixtures" / "llama-bench-h200.jsonl"
    with open_store(tmp_path / "i.db") as store:
        imp = next(i for i in read_file(fix) if i.identity["model_id"] == "qwen2.5-7b")
        run = store_import(store, imp)
        doc = build_document(store, [run], with_reference=False)
    tables = {t["title"]: t for t in all_tables(doc)}
    runs = tables["Measured runs"]
    assert "Prefill tok/s" in runs["columns"] and len(runs["rows"]) == 4
    pre = runs["columns"].index("Prefill tok/s")
    cell = next(r for r in runs["rows"] if r[2] == "4K" and r[pre] and r[pre][0]["text"] != "-")[pre][0]
    assert cell["label"] == "imported (llama-bench)" and fix.name in cell["source"] and "NVIDIA H200" in cell["source"]
    singles = [t for title, t in tables.items() if title.startswith("Single-stream decode")]  # one per model
    entries = [e for t in singles for row in t["rows"] for c in row if isinstance(c, list) for e in c]
    assert any(e["label"] == "imported (llama-bench)" for e in entries)
    assert any("qwen2.5-7b" in title for title in tables if title.startswith("Single-stream decode"))
    html = render_html(doc)
    assert 'id="bars-validation-prefill"' in html or "bars-validation-prefill" in html
    assert "imported (llama-bench)" in html and ">imported<" in html


HOST_IDENT = {"model_id": "/root/.cache/tokbench/models/tokbench-default-Q4_K_M-13bc08c62bee.gguf", "quant": None,
              "hardware_id": None, "engine": "llama.cpp", "engine_version": "0.3.16", "bench_engine": "llama.cpp",
              "server": None, "model_label": None, "hardware_label": None,
              "topology": {"nodes": 1, "gpus": 0, "split": None, "link": None}}


def test_unknown_identity_fields_are_words_said_once(tmp_path):
    db = tmp_path / "u.db"
    make_run(db, [dict(depth=0, conc=1, n=4, ttft_s=0.02, itl_s=0.003), dict(depth=4096, conc=1, n=4, ttft_s=0.2,
                                                                            itl_s=0.004),
                  dict(depth=0, conc=8, n=8, ttft_s=0.05, itl_s=0.006)], config={"identity": HOST_IDENT}, name="u")
    with open_store(db) as store:
        doc = build_document(store, None, with_reference=False)
    md = render_markdown(doc)
    cells = [c.strip() for line in md.splitlines() if line.startswith("|") for c in line.strip("|").split("|")]
    assert "?" not in cells and "None" not in cells and "-" not in [c for c in cells if c != "---"]
    assert "13bc08c62bee" not in md.split("[^1]:")[0]  # no hash in the tables (sources may name the file)
    assert "| 4K |" in md  # depth as the seed writes it
    notes = [line for line in md.splitlines() if "not recorded for run" in line]
    assert notes and all(line.count(doc["runs"][0]["id"]) == 1 for line in notes)
    assert "one machine, CPU only" in md and "llama.cpp 0.3.16" in md


def test_runs_table_shows_topology_and_agent_roles():
    from tokbench.report.tables import runs_table

    job = {"workload": "agents", "runs": [{"target": {"engine": "llama.cpp-server", "model": {"label": "main.gguf"}},
                                           "sub": {"engine": "mlx-server", "model": {"label": "small-4bit"}},
                                           "agents": {"subagents": 4}}]}
    ident = {**HOST_IDENT, "model_id": "main.gguf", "quant": "Q4_K_M", "hardware_id": "m3-ultra-80c",
             "topology": {"nodes": 2, "gpus": 2, "split": "pipeline", "link": "thunderbolt5"}}
    doc = {"runs": [{"id": "r1", "identity": ident, "hardware": None, "status": "complete",
                     "config": {"job": job, "run_index": 0}}]}
    row = runs_table(doc)["rows"][0]
    assert row[5] == "2 machines, 2 GPUs, pipeline split, over thunderbolt5"
    assert row[6] == "main agent: main on llama.cpp-server; sub-agents (up to 4): small-4bit on mlx-server"


def test_measured_over_estimated_compares_per_stream_with_per_stream():
    from tokbench.report.tables import run_points

    summaries = [{"context_depth": 256, "concurrency": c, "ok": 8, "requests": 8, "decode_tps_per_stream": {"p50": 10.0}}
                 for c in (1, 8)]
    estimates = [{"context_depth": 256, "concurrency": c, "plan": {"decode_tps": 40.0, "per_stream_decode_tps": 20.0}}
                 for c in (1, 8)]
    doc = {"runs": [{"id": "r", "identity": HOST_IDENT, "hardware": None, "created_at": "t", "environment": {},
                     "summaries": summaries, "estimates": estimates}]}
    t = run_points(doc)
    col = t["columns"].index("Measured / estimated")
    assert [r[col][0]["text"] for r in t["rows"]] == ["0.25", "0.50"]
