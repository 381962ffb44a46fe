"""Inline SVG charts: valid XML, escaped text, log axes, ECDF."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tokbench.report.charts import ecdf, hbar_chart, xy_chart

EVIL = '<script>alert(1)</script>&"'


def test_xy_chart_is_valid_svg_with_escaped_text():
    svg = xy_chart("c1", EVIL, "x", "y", [{"name": EVIL, "points": [(1, 2, EVIL), (2, 4, "b")]}])
    root = ET.fromstring(svg)  # well-formed XML: nothing unescaped broke it
    assert root.tag.endswith("svg")
    assert "<script>" not in svg
    texts = [el.text for el in root.iter() if el.text]
    assert EVIL in texts  # the title and tooltip carry the exact text
    assert len([el for el in root.iter() if el.tag.endswith("circle")]) == 2


def test_log_axes_and_non_positive_points_dropped():
    svg = xy_chart("c2", "t", "x", "y", [{"name": "s", "points": [(0.5, 10), (5, 1000), (0, 5), (3, -1)]}],
                   log_x=True, log_y=True)
    root = ET.fromstring(svg)
    assert len([el for el in root.iter() if el.tag.endswith("circle")]) == 2
    ticks = [el.text for el in root.iter() if el.get("class") == "tick"]
    assert {"0.1", "1", "10", "1e+03"} <= set(ticks)


def test_bar_chart_bars_scale_with_values():
    svg = hbar_chart("b", "t", "tok/s", [{"label": "a", "values": {"m": (100, "a m"), "e": (50, "a e")}}], ["m", "e"])
    root = ET.fromstring(svg)
    rects = [el for el in root.iter() if el.tag.endswith("rect") and el.find("{*}title") is not None]
    widths = {el.find("{*}title").text: float(el.get("width")) for el in rects}
    assert widths["a m"] == pytest.approx(2 * widths["a e"], rel=0.02)


def test_bar_chart_grows_a_row_per_group_and_keeps_labels_apart():
    groups = [{"label": f"model-{i} Q4_K_M, m3-ultra-80c:512, ~4K, 8 conc. and a long tail", "values":
               {"m": (10 + i, "t")}} for i in range(30)]
    root = ET.fromstring(hbar_chart("b", "t", "tok/s", groups, ["m"]))
    labels = [el for el in root.iter() if el.tag.endswith("text") and el.get("text-anchor") == "end"]
    ys = sorted(float(el.get("y")) for el in labels)
    assert len(ys) == 30 and min(b - a for a, b in zip(ys, ys[1:])) >= 12  # 10 px text, rows 12+ px apart
    assert float(root.get("height")) > 30 * 12
    texts = [el.find("{*}title").tail for el in labels]  # the shown text follows its tooltip
    assert all(len(t) <= 44 for t in texts)  # shortened to the label column, the full text in the tooltip


def test_ecdf():
    pts = ecdf([3.0, 1.0, 2.0, float("nan")])
    assert pts == [(1.0, 1 / 3), (2.0, 2 / 3), (3.0, 1.0)]
    assert len(ecdf(list(range(10000)))) <= 202
    assert ecdf([]) == []
