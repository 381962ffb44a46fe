"""'What runs on this machine': ranked options with fit, estimate, measured and published rows beside."""

from __future__ import annotations

import pytest

from tb_report_runs import make_run
from tokbench.cli.main import main
from tokbench.report.document import build_document
from tokbench.report.machine import machine_section, machine_table
from tokbench.report.markdown import render_markdown
from tokbench.store import open_store


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    db = tmp_path_factory.mktemp("machine") / "m.db"
    ident = {"model_id": "qwen3-30b-a3b", "quant": "Q4_K_M", "hardware_id": "m3-ultra-80c", "engine": "llama.cpp",
             "engine_version": "b6000", "bench_engine": "llama.cpp", "topology": {"nodes": 1, "gpus": 1}}
    make_run(db, [dict(depth=0, conc=1, n=4, ttft_s=0.02, itl_s=0.012)], config={"identity": ident}, name="m3")
    with open_store(db) as store:
        return build_document(store, None, machine={"hardware": "m3-ultra-80c:512", "context": 4096,
                                                    "min_tps": 40.0})


def test_options_ranked_fit_and_reach_the_target(doc):
    sec = doc["machine"]
    assert sec["hardware"]["id"] == "m3-ultra-80c" and sec["count"] >= len(sec["options"]) > 5
    ranks = [o["rank"] for o in sec["options"]]
    assert ranks == sorted(ranks) and ranks[0] == 1
    assert all(o["fits"] and o["decode_tps"] >= 40.0 for o in sec["options"])
    params = [o["n_params"] for o in sec["options"] if o["rank"] <= sec["limit"]]
    assert params == sorted(params, reverse=True)  # most parameters first


def test_measured_and_published_rows_sit_beside_their_option(doc):
    table = machine_table(doc)
    cols = table["columns"]
    row = next(r for r in table["rows"] if r[1] == "qwen3-30b-a3b" and r[2] == "Q4_K_M")
    measured, published = row[cols.index("Measured")], row[cols.index("Published")]
    assert [e["provenance"] for e in measured] == ["measured"] and measured[0]["text"].endswith(" at 0")
    assert any(e["text"].startswith("84") and e["provenance"] == "reported" for e in published)  # seed row, 4K
    est = row[cols.index("Decode tok/s estimated")][0]
    assert est["provenance"] == "estimated" and "fitted on this chip" in est["text"]
    assert "What runs on this machine: m3-ultra-80c" in render_markdown(doc)


def test_section_for_a_small_machine_with_no_option():
    sec = machine_section("m1", context=131072, min_tps=500.0)
    assert sec["options"] == [] and "No option fits" in machine_table({"machine": sec, "runs": [],
                                                                        "reference_rows": []})["note"]


def test_cli_bad_hardware_or_speed_exits_2(tmp_path, capsys):
    assert main(["report", "--db", str(tmp_path / "none.db"), "--hardware", "m3-ultra-8"]) == 2
    assert "m3-ultra" in capsys.readouterr().err
    assert main(["report", "--db", str(tmp_path / "none.db"), "--hardware", "m1", "--min-tps", "0"]) == 2
    assert main(["report", "--db", str(tmp_path / "none.db"), "--hardware", "m1", "--context", "lots"]) == 2
