"""Terminal output of ``tokbench bench``: progress while it runs, then the results document
(tokbench.report.results) as the seed's tables with the planner's estimate beside each result.
Renders only: every number comes from the document."""

from __future__ import annotations

from typing import Any


def _f(v: Any, digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


class TerminalEvents:
    """Pipeline events on stderr: a progress bar over measured requests (only on a terminal: its
    refresh thread takes the interpreter lock ten times a second, which nobody needs when the output
    goes to a file), prompt counting progress, warnings and the suite id. A context manager (the bar
    stops on exit, errors included)."""

    def __init__(self, con, job):
        import sys

        self.con = con
        self.p = None
        bar_con = con if con.stderr else None
        if (sys.stderr if con.stderr else sys.stdout).isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            total = sum(p.requests or 0 for r in job.runs for p in r.points) or None
            self.p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                              console=bar_con, transient=True)
            self.task = self.p.add_task("bench", total=total)

    def __enter__(self):
        if self.p is not None:
            self.p.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.p is not None:
            self.p.stop()

    def warn(self, message: str) -> None:
        """A warning line on stderr."""
        _stderr(f"tokbench: warning: {message}")

    def phase(self, text: str) -> None:
        """What runs now, as the bar's label."""
        if self.p is not None:
            self.p.update(self.task, description=text)

    def progress(self, what: str, done: int, total: int | None) -> None:
        """Prompt counting: calls made so far."""
        if self.p is not None:
            self.p.update(self.task, description=f"{what}: {done} counted" + (f"/{total}" if total else ""))

    def record(self, rec) -> None:
        """One request ended: the bar advances for measured ones."""
        if self.p is not None and not rec.warmup:
            self.p.advance(self.task)

    def suite(self, suite_id: str, runs: int) -> None:
        """The suite id, shown at once (it is what --resume takes)."""
        _stderr(f"tokbench: suite {suite_id}: {runs} runs (finish it with --resume {suite_id} if interrupted)")


def _stderr(text: str) -> None:
    import sys

    print(text, file=sys.stderr, flush=True)


def render_document(con, doc, outcome) -> None:
    """Every run of the document: its tables, then the planner's view; the suite id last."""
    if not doc.runs:
        con.print("[yellow]interrupted before any run started: nothing was stored[/yellow]"
                  if outcome.interrupted else "no runs")
    for run in doc.runs:
        ident = run.identity
        title = (f"{run.model} on {run.engine} ({ident.get('server') or ident.get('engine') or ''} "
                 f"{ident.get('engine_version') or ''}".rstrip() + f") - run {run.run_id} ({run.status})")
        if run.agents is not None:
            from tokbench.cli.bench_agents import render as render_agents

            render_agents(con, f"{run.name or run.model} - run {run.run_id} ({run.status})", run.agents["agents"],
                          run.agents["plan"])
            continue
        render(con, title, run.results, run.kinds)
        if not doc.interrupted:
            render_plan(con, run.plan, run.planner_note)
    if doc.suite_id:
        con.print(f"suite {doc.suite_id} ({doc.status}): runs " + ", ".join(r.run_id for r in doc.runs))


def render(con, title: str, rows: list[dict], kinds: dict[str, str]) -> None:
    """One run's tables: single stream, then the concurrency sweep (seed layout), then notes."""
    from rich.table import Table

    con.print(f"[bold]{title}[/bold]")
    single = [r for r in rows if kinds.get(r["point"]) == "single"]
    sweep = [r for r in rows if kinds.get(r["point"]) != "single"]
    goodput = any(r.get("goodput") for r in rows)
    if single:
        t = Table(title="Single stream (tok/s; decode: median of requests, 95% interval of the median)", box=None,
                  header_style="bold", title_justify="left")
        heads = ["depth", "prefill tok/s", "decode tok/s", "95% CI", "GB/s", "% of BW", "TTFT ms", "n"] + (
            ["good"] if goodput else [])
        for h in heads + ["est.", "meas/est"]:
            t.add_column(h, justify="right")
        for r in single:
            t.add_row(str(r["context_depth"]), _f((r.get("prefill_tps") or {}).get("p50"), 0),
                      _f(r["decode_tps_per_stream"]["p50"]), _ci(r), *_bw(r), _f(r["ttft_ms"]["p50"]),
                      f"{r['ok']}/{r['requests']}", *_good(r, goodput), *_est(r))
        con.print(t)
    if sweep:
        t = Table(title="Concurrency: output tok/s per stream (median) and in total", box=None,
                  header_style="bold", title_justify="left")
        chunky = any(((r.get("tokens_per_chunk") or {}).get("mean") or 1) > 1.05 for r in sweep)
        heads = ["conc.", "depth", "stream", "total", "GB/s", "% of BW", "TTFT ms", "ITL ms"] + (
            ["tok/chunk"] if chunky else [])
        for h in heads + ["ok/err"] + (["goodput", "good/s"] if goodput else []) + ["est.", "meas/est"]:
            t.add_column(h, justify="right")
        for r in sweep:
            label = str(r["concurrency"]) + (f" @{r['point'].split('rate=')[1]}" if "rate=" in r["point"] else "")
            tpc = (r.get("tokens_per_chunk") or {}).get("mean")
            t.add_row(label, str(r["context_depth"]), _f(r["decode_tps_per_stream"]["p50"]),
                      _f(r.get("aggregate_output_tps"), 0), *_bw(r), _f(r["ttft_ms"]["p50"]), _f(r["itl_ms"]["p50"], 2),
                      *([_f(tpc, 2)] if chunky else []), f"{r['ok']}/{r['errors'] + r.get('incomplete', 0)}",
                      *(_good(r, True, rate=True) if goodput else ()), *_est(r))
        con.print(t)
    for r in rows:
        _notes(con, r)
    if any(r.get("bandwidth") for r in rows):
        peak = next((r["bandwidth"].get("peak_gbs") for r in rows if r.get("bandwidth")), None)
        con.print("[dim]GB/s: bandwidth achieved = decode steps/s x bytes one step reads (active weights + KV)"
                  + (f"; % of this hardware's {peak:,.0f} GB/s" if peak else "; hardware unknown, so no %")
                  + "[/dim]")


def _bw(r: dict) -> tuple[str, str]:
    """Bandwidth achieved beside the decode figure (gpt-fast's "Bandwidth achieved"): GB/s and % of peak."""
    bw = r.get("bandwidth") or {}
    return _f(bw.get("gbs")), ("-" if bw.get("pct") is None else f"{bw['pct']:.0f}%")


def _ci(r: dict) -> str:
    ci = r.get("decode_tps_median_ci95") or {}
    if ci.get("low") is None or (ci.get("n") or 0) < 2:
        return "-"
    cover = ci.get("coverage") or 0
    return f"{_f(ci['low'])}-{_f(ci['high'])}" + ("" if cover >= 0.95 else f" ({cover:.0%})")


def _good(r: dict, shown: bool, rate: bool = False) -> tuple[str, ...]:
    if not shown:
        return ()
    g = r.get("goodput") or {}
    frac = "-" if g.get("fraction") is None else f"{g['fraction']:.0%}"
    return (frac, _f(g.get("request_rate"), 2)) if rate else (frac,)


def _notes(con, r: dict) -> None:
    point = r["point"]
    flags = r.get("timing_flags") or {}
    if flags:
        why = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in flags.items())
        con.print(f"[yellow]{point}: {sum(flags.values())} request(s) with impossible decode timing left out of "
                  f"decode tok/s ({why}; their TTFT and E2E are kept)[/yellow]")
    if r.get("token_mismatch"):
        con.print(f"[yellow]{point}: {r['token_mismatch']} request(s) where the server's token count differs from "
                  f"the chunks seen; per-chunk counts: {_sources(r)}[/yellow]")
    tpc = (r.get("tokens_per_chunk") or {}).get("mean")
    tpa = (r.get("tokens_per_arrival") or {}).get("mean")
    if (tpc and tpc > 1.05) or (tpa and tpa > 1.5):
        con.print(f"{point}: {tpc or 1:.2f} tokens per streamed chunk, {tpa or 1:.2f} per arrival (every figure is "
                  f"per token; counts from: {_sources(r)})")
    spec = r.get("speculative")
    if spec and spec.get("acceptance") is not None:
        con.print(f"{point}: speculative decoding accepted {spec['accepted_tokens']:,.0f} of {spec['draft_tokens']:,.0f} "
                  f"drafted tokens ({spec['acceptance']:.1%}; {spec['source']})")
    if r.get("error_classes"):
        con.print(f"[red]{point}: errors {r['error_classes']}[/red]")


def _sources(r: dict) -> str:
    return ", ".join(f"{k} {n}" for k, n in (r.get("token_sources") or {}).items()) or "-"


def _est(r: dict) -> tuple[str, str]:
    est = (r.get("plan") or {}).get("decode_tps")
    ratio = r.get("measured_over_estimate")
    return _f(est), ("-" if ratio is None else f"{ratio:.2f}")


def render_plan(con, p: dict | None, note: str | None = None) -> None:
    """The planner's view of the run's model on the hardware."""
    if p is None:
        con.print(f"[dim]planner: {note or 'cannot read this model'} - no estimates[/dim]")
        return
    gb = lambda b: "-" if b is None else f"{b / 1e9:.2f} GB"  # noqa: E731
    level = (p.get("calibration") or {}).get("level_text")
    level = f", {level}" if level else ""
    con.print(f"[bold]Planner on {p['hardware']}[/bold] ({p['engine']}): weights {gb(p['weights_bytes'])}, KV "
              f"{gb(p['kv_bytes'])}, total {gb(p['total_bytes'])} of {gb(p['usable_bytes'])} usable -> "
              f"{'fits' if p['fits'] else 'does not fit'}; decode ~{_f(p['decode_tps'])} tok/s "
              f"({_f(p['decode_tps_low'])}-{_f(p['decode_tps_high'])}{level}), ceiling {_f(p['decode_tps_ceiling'])}")
    cal = p.get("calibration") or {}
    if not cal.get("fitted", True):
        # Say so where a user reads the ratios: an unfitted family's estimates are defaults, not a
        # calibrated prediction (CPUs here: no published or campaign rows to fit them on yet).
        con.print(f"[yellow]planner calibration for {cal.get('family', '?')} x {cal.get('engine', '?')}: "
                  f"{cal.get('basis', 'default')} - the est. column is a rough default, not a fitted "
                  f"prediction[/yellow]")
