"""Screenshots of the HTML report for review: the whole page and each chart, in headless Chromium at 1400 px.

    .venv/bin/python benchmarks/report_screenshots.py --db RUNS.db [--hardware host] [--out benchmarks/results]

Builds ``tokbench report --format html`` of every run in the database (published rows included, and
"What runs on this machine" for ``--hardware``), opens it with the same DevTools driver the browser test
uses (tests/report/tb_chromium.py), fails on any console error or label overlap, and writes
``report_page_1400.png`` (the page's first 4,200 px) and ``report_chart_<id>.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP_PX = 4200
sys.path.insert(0, str(ROOT / "tests" / "report"))


def overlaps(chart: dict, tol: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of labels of one chart whose boxes intersect."""
    texts = [t for t in chart["texts"] if t["text"].strip() and t["x1"] > t["x0"]]
    hit = lambda a, b: (min(a["x1"], b["x1"]) - max(a["x0"], b["x0"]) > tol  # noqa: E731
                        and min(a["y1"], b["y1"]) - max(a["y0"], b["y0"]) > tol)
    return [(a["text"], b["text"]) for i, a in enumerate(texts) for b in texts[i + 1:] if hit(a, b)]


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    from tb_chromium import load_page
    from tokbench.cli.main import main as tokbench

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--hardware", default=None)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "report.html"
        extra = ["--hardware", args.hardware] if args.hardware else []
        if tokbench(["report", "--db", args.db, "--out", str(html), *extra]) != 0:
            return 1
        res = asyncio.run(load_page(html, width=1400))
    errors = res["exceptions"] + [c for c in res["console"] if c["type"] in ("error", "warning", "assert")]
    clashes = {c["id"]: overlaps(c) for c in res["facts"]["charts"] if overlaps(c)}
    img = Image.open(io.BytesIO(res["png"])).convert("RGB")
    # The page's top (charts, then the first tables) in 256 colours: a review copy small enough to commit.
    img.crop((0, 0, img.width, min(img.height, TOP_PX))).quantize(256).save(out / "report_page_1400.png",
                                                                          optimize=True)
    for c in res["facts"]["charts"]:
        img.crop((int(c["x"]), int(c["y"]), int(c["x"] + c["w"]), int(c["y"] + c["h"]))).save(
            out / f"report_chart_{c['id']}.png", optimize=True)
        print(f"{c['id']}: {c['w']:.0f}x{c['h']:.0f} px, {c['marks']} marks, {len(c['texts'])} labels")
    print(f"page {img.width}x{img.height} px; console errors {len(errors)}; charts with overlapping labels "
          f"{len(clashes)}")
    return 1 if errors or clashes else 0


if __name__ == "__main__":
    sys.exit(main())
