"""Published cluster rows (multi-GPU and multi-node: ``catalog/data/published_clusters.csv``, a copy of
``data/published/clusters.csv`` with each row's source) next to :func:`tokbench.plan.cluster.plan_cluster`.

A row is estimated when its model, quant, hardware, split and engine are identified; the others are
listed as skipped with what the source does not state. Every cluster row is a *reference* row (no fit
uses them: the link terms of the cluster planner are stated constants). They are summarized per
(engine, split, link) apart from the single-machine summary, which they would otherwise dilute.

Reading the published text: ``layer (...)``, ``rpc (...)`` and ``pipeline`` are pipeline splits
(llama.cpp's ``-sm layer`` and RPC give each device a layer range); the link's first word is a link
catalog id where it is one (``1gbe`` is the catalog's ``gbe``); a PCIe host whose generation is not
stated is planned as PCIe 4.0 (every GPU of those rows has a PCIe 4.0 or 5.0 interface, and a pipeline
split moves a few KB per token over it: the difference is below 0.1%). ``depth=`` in the notes is the
row's context depth, as in the other published files.

Most rows come with the same source's single-GPU figure for the same test. The planner's error on a
cluster row is then the single-node model's error times the split's own; the second is what this
module's model adds, so each such row also carries ``split_error_pct``: the planned speed-up over one
node against the measured one, ``(planned / planned one node) / (measured / measured one node) - 1``.
Decode rows from an older llama.cpp (the RunPod rows are May 2024, build 2833) are mostly the single-node
model's error: that build was slower than the one the speed model is calibrated on.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from functools import lru_cache
from importlib import resources

FILE = "published_clusters.csv"
METRICS = {"decode": "decode_tps", "prefill": "prefill_tps"}
LINK_WORDS = {"1gbe": "gbe", "pcie": "pcie4"}  # the published spelling -> the link catalog's id
SPLIT_WORDS = {"layer": "pipeline", "rpc": "pipeline", "pipeline": "pipeline", "tensor": "tensor",
               "expert": "expert"}


def load_rows() -> list[dict]:
    """The published cluster rows as dicts (the CSV's columns)."""
    text = resources.files("tokbench.catalog").joinpath(f"data/{FILE}").read_text()
    return list(csv.DictReader(text.splitlines()))


def _first_word(text: str) -> str:
    return re.split(r"[\s(]", (text or "").strip().lower(), maxsplit=1)[0]


def row_link(r: dict) -> str | None:
    """The link catalog id a row names, None when it names none."""
    from tokbench.plan.cluster import links

    w = _first_word(r["link"])
    w = LINK_WORDS.get(w, w)
    return w if w in links() else None


def row_split(r: dict) -> str | None:
    """pipeline | tensor | expert, None when not stated."""
    return SPLIT_WORDS.get(_first_word(r["split"]))


def row_engine(r: dict) -> str | None:
    """The planner engine (the one engine table's name) a row's engine text starts with; None if none."""
    from tokbench.catalog.engines import get_engine
    from tokbench.errors import UserError

    try:
        return get_engine(_first_word(r["engine"])).name
    except UserError:
        return None


def row_depth(r: dict) -> int | None:
    """The context depth the row was measured at (``depth=N`` in its notes)."""
    m = re.search(r"\bdepth=(\d+)", r.get("notes") or "")
    return int(m.group(1)) if m else None


def row_prompt(r: dict, depth: int) -> int:
    """A prefill row's prompt tokens: ``prompt=N`` in its notes (a prompt after earlier context, e.g.
    pp512 at depth 65536), else a prompt from an empty context of twice its mean depth."""
    m = re.search(r"\bprompt=(\d+)", r.get("notes") or "")
    return int(m.group(1)) if m else 2 * depth


def _missing(r: dict, parts: dict) -> list[str]:
    names = {"hardware": "hardware", "model": "model", "quant": "quant", "split": "split", "link": "link",
             "engine": "engine", "depth": "context depth"}
    return [names[k] for k, v in parts.items() if v in (None, "", [])]


def _parts(r: dict) -> dict:
    return {"hardware": [h for h in r["hardware_id"].split(";") if h], "model": r["model_id"], "quant": r["quant_id"],
            "split": row_split(r), "link": row_link(r), "engine": row_engine(r), "depth": row_depth(r)}


@lru_cache(maxsize=None)
def _spec(model: str):
    """One spec object per model (the planner caches per spec object)."""
    from tokbench.modelspec import load_spec

    return load_spec(model)


@lru_cache(maxsize=None)
def _estimate(model: str, quant: str, hw: tuple, gpus: int, link: str, split: str, engine: str, context: int,
              depth: int, prompt: int | None = None) -> dict:
    from tokbench.catalog.hardware import get_hardware
    from tokbench.plan.cluster import Topology, get_link, plan_cluster

    nodes = tuple(get_hardware(h) for h in hw for _ in range(gpus))
    return plan_cluster(_spec(model), quant, Topology(nodes, get_link(link), split), engine, context, 1,
                        depth=depth, prompt_tokens=prompt, prompt_depth=depth if prompt else None).to_dict()


def cluster_rows_validation(skipped: list[dict]) -> list[dict]:
    """Rows for every published cluster figure plan_cluster can estimate (role ``reference``)."""
    from tokbench.errors import UserError
    from tokbench.report.validate import _row

    out = []
    for r in load_rows():
        p = _parts(r)
        metric = METRICS.get(r["metric"])
        missing = _missing(r, p)
        if missing or metric is None:
            skipped.append({"source": r["source"], "model": r["model_id"], "hardware": r["hardware_id"],
                            "metric": metric or r["metric"], "reason": "cluster row; not stated: " + ", ".join(missing)})
            continue
        hw = tuple(p["hardware"]) if len(p["hardware"]) > 1 else tuple(p["hardware"]) * int(r["nodes"])
        depth = max(1, p["depth"])
        # prefill: a prompt of row_prompt tokens whose mean depth is the row's depth (pp512 from empty: 256)
        prompt = row_prompt(r, depth) if metric == "prefill_tps" else None
        context = depth + prompt // 2 if prompt else depth  # the KV the prompt's last token sees
        try:
            est = _estimate(p["model"], p["quant"], hw, int(r["gpus_per_node"]), p["link"], p["split"], p["engine"],
                            context, depth, prompt)
        except UserError as exc:
            skipped.append({"source": r["source"], "model": r["model_id"], "hardware": r["hardware_id"],
                            "metric": metric, "reason": f"cluster row: {exc}"})
            continue
        single = float(r["single_node_tokens_per_s"]) if r["single_node_tokens_per_s"] else None
        single_est = est["single_node_decode_tps"] if metric == "decode_tps" else est["single_node_prefill_tps"]
        label = "+".join(hw) if len(set(hw)) > 1 else f"{len(hw)}x {hw[0]}"
        gpus = int(r["gpus_per_node"])
        label = label if gpus == 1 else f"{label} ({gpus} GPUs each)" if len(hw) > 1 else f"{gpus}x {hw[0]}"
        row = _row(p["model"], p["quant"], label, p["engine"], depth, 1, metric,
                   float(r["tokens_per_s"]), est, r["source"], provenance="reported", label="published cluster row",
                   role="reference", cluster=True, topology=est["topology"], split=p["split"], link=p["link"],
                   devices=len(hw) * int(r["gpus_per_node"]), feasible=est["feasible"],
                   single_node_measured_tps=single, single_node_estimated_tps=single_est, notes=r["notes"])
        if row:
            row["split_error_pct"] = _split_error(row, metric)
            out.append(row)
    return out


def _split_error(row: dict, metric: str) -> float | None:
    """The split's own error in % (module docstring); None without both single-node figures."""
    sm, se = row.get("single_node_measured_tps"), row.get("single_node_estimated_tps")
    if not sm or not se:
        return None
    return 100.0 * ((row["estimated_tps"] / se) / (row["measured_tps"] / sm) - 1)


def _group_summary(rows: list[dict]) -> dict:
    from tokbench.report.validate import _mape

    s = _mape(rows)
    errs = [r["split_error_pct"] for r in rows if r.get("split_error_pct") is not None]
    s["split_n"] = len(errs)
    s["split_mape_pct"] = sum(abs(e) for e in errs) / len(errs) if errs else None
    s["split_bias_pct"] = sum(errs) / len(errs) if errs else None
    return s


def summarize_clusters(rows: list[dict]) -> dict:
    """Per (engine, split, link) of the cluster rows: MAPE and bias, the split's own error (``split_n``,
    ``split_mape_pct``, ``split_bias_pct``, where single-node rows exist), and the same ``by_metric``."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("cluster"):
            groups[f"{r['engine']} x {r['split']} x {r['link']}"].append(r)
    out = {}
    for k, v in sorted(groups.items()):
        metrics: dict[str, list[dict]] = defaultdict(list)
        for r in v:
            metrics[r["metric"]].append(r)
        out[k] = {**_group_summary(v), "by_metric": {m: _group_summary(x) for m, x in sorted(metrics.items())}}
    return out


def _line(key: str, g: dict) -> str:
    line = f"  {key:<52}n={g['n']:<4} MAPE {g['mape_pct']:.1f}%  bias {g['bias_pct']:+.1f}%"
    if g.get("split_n"):
        line += f"  | split's own: n={g['split_n']} MAPE {g['split_mape_pct']:.1f}% bias {g['split_bias_pct']:+.1f}%"
    return line


def cluster_lines(result: dict) -> list[str]:
    """Text of the cluster summary (per engine x split x link, and per metric) for ``tokbench validate``."""
    s = result["summary"].get("clusters") or {}
    if not s:
        return []
    out = ["", "Published cluster rows vs the cluster planner (reference rows; per engine x split x link; the split's",
           "own error: planned speed-up over one node vs measured, where the source measured one node too):"]
    for key, g in s.items():
        out.append(_line(key, g))
        out += [_line(f"  {m}", x) for m, x in (g.get("by_metric") or {}).items()]
    return out
