"""The HTML report in a real headless Chromium: loads cleanly, charts render, hostile text stays text."""

from __future__ import annotations

import asyncio
import io

import pytest

from tb_chromium import load_page
from tb_report_runs import make_run
from tokbench.cli.main import main

PIL = pytest.importorskip("PIL.Image")
EVIL = "<script>alert(1)</script>"
CHARTS = {"conc-per-stream", "conc-aggregate", "dist-ttft_ms", "dist-itl_ms", "bars-validation", "roofline"}


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("html")
    db = tmp / "h.db"
    make_run(db, [dict(depth=0, conc=1, n=6, ttft_s=0.02, itl_s=0.0025),
                  dict(depth=0, conc=4, n=8, ttft_s=0.03, itl_s=0.004),
                  dict(depth=0, conc=8, n=16, ttft_s=0.05, itl_s=0.006)], name="h100", seed=1)
    make_run(db, [dict(depth=0, conc=1, n=6, ttft_s=0.02, itl_s=0.003), dict(depth=0, conc=8, n=16, ttft_s=0.06,
                                                                          itl_s=0.007)],
             config={"model": EVIL, "quant": "Q4_K_M", "engine": "llama.cpp"},
             environment={"hardware_id": "h100-sxm", "host": EVIL}, name="evil", seed=2)
    out = tmp / "report.html"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    html = out.read_text()
    return html, asyncio.run(load_page(out))


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
