"""Terminal output of ``tokbench bench``: the seed's tables from stored records, with the
planner's estimate and the measured/estimated ratio beside each result when the hardware is known.
"""

from __future__ import annotations

from typing import Any


def _f(v: Any, digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def plan_engine_for(engine: str, model_path) -> str:
    """The planner's engine for a bench engine: MLX, llama.cpp in process, or llama.cpp behind a
    server (a GGUF served over HTTP is llama.cpp: llama-server, Ollama, LM Studio)."""
    if engine.startswith("mlx"):
        return "mlx"
    if engine == "llama.cpp":
        return "llama.cpp"
    return "llama.cpp-server" if str(model_path).endswith(".gguf") or engine == "llama.cpp-server" else "llama.cpp"


def planner_estimates(model_path, quant: str | None, hardware, engine: str, rows: list[dict]) -> dict[str, dict]:
    """Per point label: the planner's decode estimate for that depth/concurrency (empty without hardware)."""
    if hardware is None or model_path is None:
        return {}
    from tokbench.plan import estimate
    from tokbench.modelspec import load_spec

    try:
        spec = load_spec(str(model_path))
    except Exception:  # noqa: BLE001 - a model the planner cannot read just gets no estimate
        return {}
    plan_engine = plan_engine_for(engine, model_path)
    out = {}
    for row in rows:
        d, c = row.get("context_depth"), row.get("concurrency")
        if not isinstance(d, int) or not isinstance(c, int):
            continue
        ok = row.get("ok") or 0
        gen = round(row["output_tokens"] / ok) if ok and row.get("output_tokens") else 128
        try:
            # The sweep the bench just ran (prompt, output and request counts), so the estimate is of
            # the same quantity: per-stream tok/s with the other requests' prefill interleaved.
            p = estimate(spec, quant, hardware, engine=plan_engine, context=max(d, 1) + gen,
                         concurrency=max(c, 1), depth=d + gen // 2, prompt_tokens=max(d, 1), gen_tokens=max(gen, 1),
                         requests=row.get("requests") or None)
        except Exception:  # noqa: BLE001 - e.g. a quant the planner does not know
            continue
        est = p.per_stream_decode_tps if c > 1 and p.per_stream_decode_tps else p.decode_tps
        out[row["point"]] = {"decode_tps": est, "aggregate_decode_tps": p.aggregate_decode_tps,
                             "low": p.decode_tps_low, "high": p.decode_tps_high, "fits": p.fits}
    return out


def attach_estimates(rows: list[dict], estimates: dict[str, dict]) -> None:
    """Add ``plan`` ({decode_tps, ...}) and ``measured_over_estimate`` to each result row."""
    for row in rows:
        est = estimates.get(row.get("point"))
        if not est:
            continue
        row["plan"] = est
        measured = (row.get("decode_tps_per_stream") or {}).get("mean")
        if measured and est.get("decode_tps"):
            row["measured_over_estimate"] = measured / est["decode_tps"]


def render(con, title: str, rows: list[dict], kinds: dict[str, str]) -> None:
    """Print one run's tables: single stream, then the concurrency sweep (seed layout)."""
    from rich.table import Table

    con.print(f"[bold]{title}[/bold]")
    single = [r for r in rows if kinds.get(r["point"]) == "single"]
    sweep = [r for r in rows if kinds.get(r["point"]) != "single"]
    if single:
        t = Table(title="Single stream (tok/s)", box=None, header_style="bold", title_justify="left")
        for h in ("depth", "prefill tok/s", "decode tok/s", "sd", "95% CI", "TTFT ms", "n", "est.", "meas/est"):
            t.add_column(h, justify="right")
        for r in single:
            ci = r.get("decode_tps_ci95") or {}
            band = f"{_f(ci.get('low'), 0)}-{_f(ci.get('high'), 0)}" if ci.get("low") is not None else "-"
            t.add_row(str(r["context_depth"]), _f((r.get("prefill_tps") or {}).get("mean"), 0),
                      _f(ci.get("mean")), _f(ci.get("sd"), 2), band, _f(r["ttft_ms"]["p50"]),
                      f"{r['ok']}/{r['requests']}", *_est(r))
        con.print(t)
    if sweep:
        t = Table(title="Concurrency: output tok/s per stream and in total", box=None,
                  header_style="bold", title_justify="left")
        for h in ("conc.", "depth", "stream", "total", "TTFT ms", "ITL ms", "ok/err", "est.", "meas/est"):
            t.add_column(h, justify="right")
        for r in sweep:
            label = str(r["concurrency"]) + (f" @{r['point'].split('rate=')[1]}" if "rate=" in r["point"] else "")
            t.add_row(label, str(r["context_depth"]), _f(r["decode_tps_per_stream"]["mean"]),
                      _f(r.get("aggregate_output_tps")), _f(r["ttft_ms"]["p50"]), _f(r["itl_ms"]["p50"], 2),
                      f"{r['ok']}/{r['errors'] + r.get('incomplete', 0)}", *_est(r))
        con.print(t)
    for r in rows:
        if r.get("token_mismatch"):
            con.print(f"[yellow]{r['point']}: {r['token_mismatch']} request(s) where the server's token count "
                      f"differs from the client's (server counts used)[/yellow]")
        if r.get("error_classes"):
            con.print(f"[red]{r['point']}: errors {r['error_classes']}[/red]")


def _est(r: dict) -> tuple[str, str]:
    est = (r.get("plan") or {}).get("decode_tps")
    ratio = r.get("measured_over_estimate")
    return _f(est), ("-" if ratio is None else f"{ratio:.2f}")


def render_plan(con, plan_row) -> None:
    """The planner's view of this machine for the run's model."""
    if plan_row is None:
        con.print("[dim]planner: hardware unknown (pass --hardware ID, see `tokbench hw list`) - no estimates[/dim]")
        return
    p = plan_row
    gb = lambda b: "-" if b is None else f"{b / 1e9:.2f} GB"  # noqa: E731
    con.print(f"[bold]Planner on {p.hardware}[/bold]: weights {gb(p.weights_bytes)}, KV {gb(p.kv_bytes)}, "
              f"total {gb(p.total_bytes)} of {gb(p.usable_bytes)} usable -> "
              f"{'fits' if p.fits else 'does not fit'}; decode ~{_f(p.decode_tps)} tok/s "
              f"({_f(p.decode_tps_low)}-{_f(p.decode_tps_high)}), ceiling {_f(p.decode_tps_ceiling)}")
    cal = p.calibration or {}
    if not cal.get("fitted", True):
        # Say so where a user reads the ratios: an unfitted family's estimates are defaults, not a
        # calibrated prediction (CPUs here: no published or campaign rows to fit them on yet).
        con.print(f"[yellow]planner calibration for {cal.get('family', '?')} x {cal.get('engine', '?')}: "
                  f"{cal.get('basis', 'default')} - the est. column is a rough default, not a fitted "
                  f"prediction[/yellow]")
