"""Markdown rendering of the results document: the seed's tables, every number labelled and footnoted."""

from __future__ import annotations

from tokbench.report.agents import SECTION, agent_tables
from tokbench.report.tables import all_tables

# Short tags in cells; the legend spells them out.
TAGS = {"measured": "M", "estimated": "E", "reported": "R"}


class Footnotes:
    """Numbers sources in order of first use (one number per distinct source text)."""

    def __init__(self) -> None:
        self.sources: list[str] = []
        self._index: dict[str, int] = {}

    def ref(self, source: str) -> int:
        """The footnote number of ``source`` (added on first use)."""
        if source not in self._index:
            self.sources.append(source)
            self._index[source] = len(self.sources)
        return self._index[source]


def md_escape(text: str) -> str:
    """Text safe inside a Markdown table cell: pipes, HTML and emphasis characters escaped."""
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for ch in "<>":
        out = out.replace(ch, {"<": "&lt;", ">": "&gt;"}[ch])
    for ch in "*_`[]":
        out = out.replace(ch, "\\" + ch)
    return out


def _cell(cell, notes: Footnotes) -> str:
    if isinstance(cell, str):
        return md_escape(cell)
    parts = []
    for e in cell:
        tag = TAGS.get(e["provenance"], "?")
        detail = f" · {md_escape(e['detail'])}" if e.get("detail") else ""  # e.g. bandwidth achieved
        parts.append(f"{md_escape(e['text'])}{detail} {tag}[^{notes.ref(e['label'] + ': ' + e['source'])}]")
    return "<br>".join(parts) if parts else ""


def render_table(table: dict, notes: Footnotes) -> str:
    """One table as GitHub-flavoured Markdown."""
    lines = [f"### {md_escape(table['title'])}", ""]
    if table.get("note"):
        lines += [md_escape(table["note"]), ""]
    lines.append("| " + " | ".join(md_escape(c) for c in table["columns"]) + " |")
    lines.append("|" + "---|" * len(table["columns"]))
    for row in table["rows"]:
        lines.append("| " + " | ".join(_cell(c, notes) for c in row) + " |")
    return "\n".join(lines)


def _summary(doc: dict) -> list[str]:
    v = doc.get("validation")
    if not v or not v["rows"]:
        return []
    s = v["summary"]
    lines = ["### Planner error (MAPE)", "", "| Group | Rows | MAPE | Bias |", "|---|---|---|---|"]
    fmt = lambda g: (f"{g['mape_pct']:.1f}%" if g["mape_pct"] is not None else "-",  # noqa: E731
                     f"{g['bias_pct']:+.1f}%" if g["bias_pct"] is not None else "-")
    for group in ("by_engine", "by_hardware_family", "by_metric"):
        for name, g in s[group].items():
            m, b = fmt(g)
            lines.append(f"| {md_escape(group[3:])}: {md_escape(name)} | {g['n']} | {m} | {b} |")
    m, b = fmt(s["all"])
    lines.append(f"| all | {s['all']['n']} | {m} | {b} |")
    return lines


def render_markdown(doc: dict) -> str:
    """The whole report as Markdown."""
    notes = Footnotes()
    out = ["# tokbench report", "",
           f"Generated {doc['generated_at']} by tokbench {doc['tokbench_version']} "
           f"(results document schema {doc['schema']} v{doc['schema_version']}); "
           f"{len(doc['runs'])} stored run(s), {len(doc['reference_rows'])} published rows.", "",
           "Every number is tagged: " + "; ".join(f"**{t}** = {md_escape(k)} ({md_escape(doc['provenance'][k])})"
                                                  for k, t in TAGS.items()) + ". Footnotes give each source.", ""]
    for table in all_tables(doc):
        out += [render_table(table, notes), ""]
    agents = agent_tables(doc)
    if agents:
        out += [f"## {SECTION}", ""] + [x for t in agents for x in (render_table(t, notes), "")]
    out += _summary(doc)
    out += ["", "---", ""]
    out += [f"[^{i}]: {md_escape(s)}" for i, s in enumerate(notes.sources, 1)]
    return "\n".join(out) + "\n"
