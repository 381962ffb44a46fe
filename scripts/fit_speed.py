#!/usr/bin/env python
"""Fit the speed model (v4) on every measured and published row; write catalog/data/speed_params.json.

Also writes data/accuracy/holdout.json: leave-one-machine-, model- and architecture-out predictions
of every single-stream decode row, and leave-one-machine-out predictions of every prefill row, with
MAPE, bias and band coverage per level (chip / same generation / extrapolated): the accuracy the
README states. Rows with role ``test`` (a machine whose predictions were committed before it was
measured, e.g. the H200) never enter the fit.

Usage: python scripts/fit_speed.py [--check] [--p P] [--no-cpu-host]
  --check: print the fit and accuracy, write nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ROOT / "src" / "tokbench" / "catalog" / "data" / "speed_params.json"
ACCURACY = ROOT / "data" / "accuracy" / "holdout.json"


def _round(x):
    """Floats to 5 significant digits (stable diffs of the committed JSON)."""
    if isinstance(x, float):
        return float(f"{x:.5g}")
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_round(v) for v in x]
    return x


def main(argv: list[str] | None = None) -> int:
    """Fit, print a summary, and write the parameter document and the accuracy file."""
    from tokbench.calibrate import SMOOTH_P, fit_document
    from tokbench.calibrate.rows import load_rows

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="print only; write nothing")
    ap.add_argument("--p", type=float, default=SMOOTH_P, help="smooth-maximum exponent")
    ap.add_argument("--no-cpu-host", action="store_true", help="leave out data/cpu_host rows")
    args = ap.parse_args(argv)
    rows, skipped = load_rows(not args.no_cpu_host)
    for s in skipped:
        print(f"skipped: {s}", file=sys.stderr)
    doc, acc = fit_document(list(rows), args.p)
    for name, summ in acc.items():
        if name.endswith("predictions"):
            continue
        for part in ("all", "accelerators", "cpus"):
            a = summ[part] if part == "all" else summ[part]["all"]
            if not a["n"]:
                continue
            what = "prefill, leave-one-machine-out" if name == "prefill_machine" else f"leave-one-{name}-out"
            print(f"{what}, {part}: n={a['n']} MAPE {a['mape_pct']:.1f}% bias {a['bias_pct']:+.1f}% "
                  f"inside band {a.get('inside_band_pct', 0):.0f}%")
            if part != "all":
                for level, s in summ[part]["by_level"].items():
                    print(f"  {level:13s} n={s['n']:3d} MAPE {s['mape_pct']:5.1f}% "
                          f"inside band {s.get('inside_band_pct', 0):.0f}%")
    print("bands:", {k: [round(v, 3) for v in b] for k, b in doc["bands"].items()})
    print("CPU bands:", {k: [round(v, 3) for v in b] for k, b in doc["bands_cpu"].items()})
    print("prefill bands:", {k: [round(v, 3) for v in b] for k, b in doc["bands_prefill"].items()})
    print("CPU prefill bands:", {k: [round(v, 3) for v in b] for k, b in doc["bands_prefill_cpu"].items()})
    if args.check:
        return 0
    PARAMS.write_text(json.dumps(_round(doc), indent=1, sort_keys=True) + "\n")
    ACCURACY.parent.mkdir(parents=True, exist_ok=True)
    ACCURACY.write_text(json.dumps(_round(acc), indent=1, sort_keys=True) + "\n")
    print(f"wrote {PARAMS.relative_to(ROOT)} and {ACCURACY.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
