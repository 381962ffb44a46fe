"""The HTML report in a real headless Chromium: loads cleanly, charts render, hostile text stays text."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from tb_chromium import load_page
from tb_report_runs import make_run
from tokbench.cli.main import main

PIL = pytest.importorskip("PIL.Image")
EVIL = "<script>alert(1)</script>"
CHARTS = {"conc-per-stream", "conc-aggregate", "dist-ttft_ms", "dist-itl_ms", "bars-validation", "roofline"}


IDENTITY = {"model_id": "synthetic-llama-3b", "quant": "Q4_K_M", "hardware_id": "h100-sxm", "engine": "llama.cpp",
            "engine_version": "0.3.16", "bench_engine": "llama.cpp", "server": None,
            "model_label": "/cache/models/tokbench-default-Q4_K_M-13bc08c62bee0123456789abcdef0123.gguf",
            "hardware_label": None, "topology": {"nodes": 1, "gpus": 1, "split": None, "link": None}}


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("html")
    db = tmp / "h.db"
    make_run(db, [dict(depth=0, conc=1, n=6, ttft_s=0.02, itl_s=0.0025),
                  dict(depth=0, conc=4, n=8, ttft_s=0.03, itl_s=0.004),
                  dict(depth=0, conc=8, n=16, ttft_s=0.05, itl_s=0.006),
                  dict(depth=4096, conc=1, n=6, ttft_s=0.2, itl_s=0.003),
                  dict(depth=4096, conc=8, n=16, ttft_s=0.4, itl_s=0.008)],
             config={"identity": IDENTITY}, name="h100", seed=1)
    make_run(db, [dict(depth=0, conc=1, n=6, ttft_s=0.02, itl_s=0.003), dict(depth=0, conc=8, n=16, ttft_s=0.06,
                                                                          itl_s=0.007)],
             config={"model": EVIL, "quant": "Q4_K_M", "engine": "llama.cpp"},
             environment={"hardware_id": "h100-sxm", "host": EVIL}, name="evil", seed=2)
    out = tmp / "report.html"
    assert main(["report", "--db", str(db), "--out", str(out), "--hardware", "h100-sxm", "--min-tps", "100"]) == 0
    html = out.read_text()
    res = asyncio.run(load_page(out, width=1400))
    # Screenshots of this page in the test's directory; the committed ones (benchmarks/results/) come
    # from benchmarks/report_screenshots.py over a real run, with the same driver and checks.
    _save_screenshots(res, tmp)
    return html, res


def _save_screenshots(res: dict, where: Path) -> None:
    """The whole page and each chart alone, as PNG files for review."""
    img = PIL.open(io.BytesIO(res["png"])).convert("RGB")
    img.save(where / "report_page_1400.png", optimize=True)
    for c in res["facts"]["charts"]:
        img.crop((int(c["x"]), int(c["y"]), int(c["x"] + c["w"]), int(c["y"] + c["h"]))).save(
            where / f"report_chart_{c['id']}.png", optimize=True)


def test_page_loads_without_console_errors_or_dialogs(page):
    html, res = page
    assert res["exceptions"] == [] and res["dialogs"] == []
    assert [c for c in res["console"] if c["type"] in ("error", "warning", "assert")] == []
    assert [e for e in res["log"] if e["level"] in ("error", "warning")] == []
    # Self-contained: no external resource of any kind.
    for attr in ('src="http', "src='http", 'href="http', "@import", "url(http"):
        assert attr not in html


def test_hostile_model_name_is_text(page):
    html, res = page
    facts = res["facts"]
    assert EVIL in facts["text"]  # shown as text
    assert facts["scripts"] == 2  # the embedded JSON and the legend script: nothing injected
    assert EVIL in facts["embedded"]  # the embedded results document round-trips the name
    assert EVIL not in html  # never raw in the markup


def test_charts_render_non_blank(page):
    _, res = page
    charts = {c["id"]: c for c in res["facts"]["charts"]}
    assert CHARTS <= set(charts)
    img = PIL.open(io.BytesIO(res["png"])).convert("RGB")
    for cid in CHARTS:
        c = charts[cid]
        assert c["w"] > 300 and c["h"] > 200
        # The plot area (inside the axes margins), where only marks, grid lines and the frame are drawn.
        box = (int(c["x"] + 70), int(c["y"] + 40), int(c["x"] + c["w"] - 20), int(c["y"] + 270))
        area = img.crop(box)
        raw = area.tobytes()
        px = [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]
        coloured = sum(1 for r, g, b in px if max(r, g, b) - min(r, g, b) > 60)  # saturated: data marks only
        assert coloured / len(px) > 0.002, (cid, coloured)
        assert len(set(px)) > 8, cid


def _overlap(a: dict, b: dict, tol: float = 1.0) -> bool:
    return (min(a["x1"], b["x1"]) - max(a["x0"], b["x0"]) > tol) and (min(a["y1"], b["y1"]) - max(a["y0"], b["y0"]) > tol)


def test_no_chart_label_overlaps_another(page):
    _, res = page
    for c in res["facts"]["charts"]:
        texts = [t for t in c["texts"] if t["text"].strip() and t["x1"] > t["x0"]]
        assert texts, c["id"]
        clashes = [(a["text"], b["text"]) for i, a in enumerate(texts) for b in texts[i + 1:] if _overlap(a, b)]
        assert clashes == [], (c["id"], clashes[:5])
        # Every label inside its chart (none cut off at an edge).
        out = [t["text"] for t in texts if t["x0"] < c["x"] - 1 or t["x1"] > c["x"] + c["w"] + 1
               or t["y0"] < c["y"] - 1 or t["y1"] > c["y"] + c["h"] + 1]
        assert out == [], (c["id"], out)


def test_charts_have_marks_short_names_and_units(page):
    _, res = page
    charts = {c["id"]: c for c in res["facts"]["charts"]}
    for cid, c in charts.items():
        assert c["marks"] >= 2, cid
        shown = " ".join(t["text"] for t in c["texts"])
        assert "13bc08c62bee" not in shown and ".gguf" not in shown and "20" + "26" not in shown, (cid, shown)
    per = " ".join(t["text"] for t in charts["conc-per-stream"]["texts"])
    # One series per depth, named by model, quant, engine and depth; axes say their units.
    assert "tokbench-default Q4_K_M llama.cpp, depth 0" in per and "depth 4K" in per
    assert "decode tok/s per stream" in per and "concurrent requests" in per
    assert "GB read per token" in " ".join(t["text"] for t in charts["roofline"]["texts"])


def test_tables_read_without_question_marks_or_none(page):
    _, res = page
    text = res["facts"]["text"]
    assert "What runs on this machine" in text and "GB/s" in text
    for cell in ("\t?\t", "\tNone\t", "\t?\n", "\tNone\n"):
        assert cell not in text
