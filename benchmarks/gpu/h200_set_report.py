#!/usr/bin/env python
"""A later pre-registered H200 set (issue 15): llama-bench rows against the predictions committed before.

The set's predictions come from ``benchmarks/gpu/preregister.py --models ... --depths ... --no-server``
or ``... --server-only`` (a dated file with its git commit); its measurements from
``benchmarks/gpu/h200_split_run.sh`` (campaign JSON lines: llama-bench rows, or with SERVER=1 tokbench bench
sweeps against llama-server). Rows join on model, quant, engine and test (``tg128 @ d4096``,
``pp512 @ d16384``, ``sweep c=8 prompt 512``). Nothing here is fitted: the H200 is in no fit.

Usage: python benchmarks/gpu/h200_set_report.py PREDICTIONS.json OUT.md RAW.jsonl [RAW.jsonl ...]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from tokbench.calibrate import PREFILL_RISE


def _test(row: dict) -> tuple[str, str]:
    """(test as the prediction file spells it, metric) of one llama-bench JSON row."""
    if row["n_gen"] > 0:
        return f"tg{row['n_gen']} @ d{row['n_depth']}", "decode_tps"
    return f"pp{row['n_prompt']} @ d{row['n_depth']}", "prefill_tps"


def measured(paths: list[Path]) -> list[dict]:
    """One dict per llama-bench row and per tokbench-bench point of the campaign files (model, quant, engine,
    test, metric, measured, sd): a sweep point's figure is its per-stream decode median, as the v4 report's."""
    out = []
    for path in paths:
        for line in path.read_text().splitlines():
            r = json.loads(line) if line.strip() else {}
            base = {"model": r.get("model"), "quant": r.get("quant")}
            if r.get("kind") == "llama-bench":
                test, metric = _test(r["row"])
                out.append({**base, "engine": "llama.cpp", "test": test, "metric": metric,
                            "measured": r["row"]["avg_ts"], "sd": r["row"].get("stddev_ts")})
            elif r.get("kind") == "tokbench-bench":
                for pt in r["result"]["results"]:
                    c = pt["concurrency"]
                    one = r["label"] == "depth4096"
                    out.append({**base, "engine": "llama.cpp-server",
                                "test": "1 stream @ d4096" if one else f"sweep c={c} prompt 512",
                                "metric": "decode_tps" if one else ("per stream, 1 request" if c == 1 else
                                                                     "per stream, 8 and 16 concurrent"),
                                "measured": pt["decode_tps_per_stream"]["p50"], "sd": None})
    return out


def rising_series(rows: list[dict]) -> set:
    """(model, quant) of the prefill series where a deeper start ran more than PREFILL_RISE times as fast as a
    shallower one: each test attends more cache than the last, so such a series timed something else."""
    series: dict = {}
    for r in rows:
        if r["metric"] == "prefill_tps":
            series.setdefault((r["model"], r["quant"]), []).append((int(r["test"].split("@ d")[1]), r["measured"]))
    out = set()
    for key, pts in series.items():
        pts.sort()
        if any(v > PREFILL_RISE * min(u for _, u in pts[:i]) for i, (_, v) in enumerate(pts) if i):
            out.add(key)
    return out


def report(pred_path: Path, raw: list[Path]) -> tuple[str, dict]:
    """(markdown, {metric: summary}) of the measured rows against the predictions."""
    doc = json.loads(pred_path.read_text())
    preds = {(p["model"], p["quant"], p["engine"], p["test"]): p for p in doc["rows"]}
    rows = []
    for m in measured(raw):
        p = preds.get((m["model"], m["quant"], m["engine"], m["test"]))
        if p is None:
            continue
        err = 100 * (p["predicted"] / m["measured"] - 1)
        inside = p.get("low") is not None and p["low"] <= m["measured"] <= p["high"]
        rows.append({**m, "predicted": p["predicted"], "low": p.get("low"), "high": p.get("high"), "err": err,
                     "inside": inside, "level": p.get("level")})
    rising = rising_series(rows)
    summ = {}
    groups = (("decode_tps", None), ("prefill_tps", None), ("prefill_tps without rising series", rising),
              ("per stream, 1 request", None), ("per stream, 8 and 16 concurrent", None))
    for metric, keep in groups:
        name = metric.split(" without")[0]
        sel = [r for r in rows if r["metric"] == name and (keep is None or (r["model"], r["quant"]) not in keep)]
        if sel and (keep is None or keep):
            errs = [r["err"] for r in sel]
            banded = [r for r in sel if r["low"] is not None]
            summ[metric] = {"n": len(errs), "mape": statistics.fmean(map(abs, errs)), "bias": statistics.fmean(errs),
                            "inside": 100 * sum(r["inside"] for r in banded) / len(banded) if banded else None}
    lines = [f"# H200, pre-registered set: {pred_path.name}", "",
             f"Predictions committed before the measurement: planner {doc['git_commit'][:7]} ({doc['date']}); "
             f"{doc.get('note', '')}", "",
             "Measured with `benchmarks/gpu/h200_split_run.sh` (llama-bench -p 512 -n 128 -d DEPTHS -r 3, llama.cpp",
             "CUDA sm_90 from the llama-cpp-python 0.3.36 sources, synthetic real-size GGUFs). The H200 is in no fit.",
             "Error = (predicted - measured) / measured.", "",
             "| metric | n | MAPE | bias | inside the band |", "|---|---|---|---|---|"]
    for metric, s in summ.items():
        inside = "" if s["inside"] is None else f"{s['inside']:.0f}%"
        lines.append(f"| {metric} | {s['n']} | {s['mape']:.1f}% | {s['bias']:+.1f}% | {inside} |")
    lines += ["", "| model | quant | engine | test | measured | predicted [band] | error | in band | level |",
              "|---|---|---|---|---:|---:|---:|---|---|"]
    for r in rows:
        band = "" if r["low"] is None else f" [{r['low']:.0f}-{r['high']:.0f}]"
        inside = "" if r["low"] is None else "yes" if r["inside"] else "no"
        lines.append(f"| {r['model']} | {r['quant']} | {r['engine']} | {r['test']} | {r['measured']:.1f} | "
                     f"{r['predicted']:.1f}{band} | {r['err']:+.1f}% | {inside} | {r['level']} |")
    if rising:
        lines += ["", "Prefill series that run faster at a deeper start than at a shallower one (more than "
                  f"{PREFILL_RISE}x: a one-off cost in the first test, the rule the fit applies to published series, "
                  "`tokbench.calibrate.prefill_rows`): " + ", ".join(f"{m}:{q}" for m, q in sorted(rising)) + "."]
    missing = sorted({(k[0], k[1]) for k in preds} - {(r["model"], r["quant"]) for r in rows})  # (model, quant)
    if missing:
        lines += ["", "Predicted but not measured (the calls' time ran out first): "
                  + ", ".join(f"{m}:{q}" for m, q in missing) + "."]
    return "\n".join(lines) + "\n", summ


def main(argv: list[str]) -> int:
    """Write the report and print its summary."""
    if len(argv) < 3:
        print(__doc__)
        return 2
    text, summ = report(Path(argv[0]), [Path(p) for p in argv[2:]])
    Path(argv[1]).write_text(text)
    for metric, s in summ.items():
        inside = "" if s["inside"] is None else f" inside band {s['inside']:.0f}%"
        print(f"{metric}: n={s['n']} MAPE {s['mape']:.1f}% bias {s['bias']:+.1f}%{inside}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
