"""Terminal rendering of ``tokbench plan``: the seed's two tables, the derivation, the disagreements."""

from __future__ import annotations

GiB = 2**30
MiB = 2**20


def _console():
    """A rich Console; wide when writing to a pipe or file, so tables don't wrap at 80 columns."""
    import sys

    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _gib(b: float) -> str:
    return f"{b / GiB:,.1f} GiB" if b >= 0.1 * GiB else f"{b / MiB:,.0f} MiB"


def _ctx(tokens: int) -> str:
    from tokbench.plan.context import format_context

    return format_context(tokens)


def _fit_cell(r: dict) -> str:
    if r["fits"]:
        word = "Tight" if r["free_bytes"] < 0.05 * r["usable_bytes"] else "Yes"
        return f"{word} ({_gib(r['free_bytes'])} free)"
    return f"No (short {_gib(-r['free_bytes'])})"


def _describe(spec) -> str:
    kinds = spec.kinds
    parts = [f"{spec.n_layers} layers"]
    names = {"full": "full attention", "sliding": f"sliding ({spec.sliding_window})", "linear": "Gated DeltaNet",
             "mla": "MLA", "dsa": "MLA + sparse indexer", "mamba": "Mamba-2", "ffn": "FFN-only"}
    counts = {k: kinds.count(k) for k in dict.fromkeys(kinds)}
    if len(counts) > 1 or "full" not in counts:
        parts.append(", ".join(f"{n} {names[k]}" for k, n in counts.items()))
    if spec.is_moe:
        parts.append(f"{spec.n_experts} experts, {spec.n_experts_used} active")
    return f"{spec.name} ({spec.arch}): " + "; ".join(parts) + f"; {spec.n_params() / 1e9:.1f}B params, " \
        f"{spec.n_active_params() / 1e9:.1f}B active per token"


def _memory_table(rows: list[dict], hws, context: int):
    from rich.table import Table

    t = Table(title=f"Memory at {_ctx(context)} context x {rows[0]['concurrency']} sequence(s), KV {rows[0]['kv_type']}")
    for col in ("Quantization", "Model Size", f"+ KV ({_ctx(context)} ctx)", "+ State", "Overhead", "Total"):
        t.add_column(col, justify="left" if col == "Quantization" else "right")
    for hw in hws:
        t.add_column(f"Fits {hw.label}?", justify="right")
    seen = []
    for r in rows:
        if r["quant"] in seen:
            continue
        seen.append(r["quant"])
        fits = [_fit_cell(x) for hw in hws for x in rows if x["quant"] == r["quant"] and x["hardware"] == hw.label]
        t.add_row(r["quant"], _gib(r["weights_bytes"]), _gib(r["kv_bytes"]), _gib(r["state_bytes"]),
                  _gib(r["overhead_bytes"]), _gib(r["total_bytes"]), *fits)
    return t


def _speed_table(rows: list[dict], short: dict):
    from rich.table import Table

    t = Table(title="Decode speed (single stream unless --concurrency)")
    for col in ("Config", "Quant", "Est. tok/s", "Notes"):
        t.add_column(col, justify="right" if col == "Est. tok/s" else "left")
    for r in rows:
        est = f"{r['decode_tps']:.0f} ({r['decode_tps_low']:.0f}-{r['decode_tps_high']:.0f})"
        notes = [f"ceiling {r['decode_tps_ceiling']:.0f} = {r['bytes_per_token'] / 1e9:.2f} GB/token "
                 f"({r['active_bytes_per_token'] / 1e9:.2f} weights) at {_ctx(r['context'])}"]
        s = short.get((r["hardware"], r["quant"]))
        if s:
            notes.append(f"{s['decode_tps']:.0f} ({s['decode_tps_low']:.0f}-{s['decode_tps_high']:.0f}) at 4K")
        if r["concurrency"] > 1:
            notes.append(f"x{r['concurrency']}: {r['per_stream_decode_tps']:.0f}/stream, "
                         f"{r['aggregate_decode_tps']:.0f} aggregate{' (compute-bound)' if r['compute_bound'] else ''}")
        if r["prefill_tps"]:
            notes.append(f"prefill ~{r['prefill_tps']:,.0f}")
        if not r["fits"]:
            notes.append("DOES NOT FIT")
        t.add_row(r["hardware"], f"{r['quant']} ({_gib(r['weights_bytes'])})", est, "; ".join(notes))
    return t


def _derivation(spec, rows: list[dict], hws) -> list[str]:
    from tokbench.plan.kv import kv_bytes_per_token, layer_kv_widths, state_elements_per_layer
    from tokbench.plan.memory import OVERHEAD_BASIS

    r0 = rows[0]
    kinds = spec.kinds
    lines = ["Weights: sum over tensors of bytes under llama.cpp's per-tensor type choice (MLX: mlx-lm's rules)."]
    for kind in ("full", "sliding", "mla", "dsa"):
        n = kinds.count(kind)
        if not n:
            continue
        k, v = layer_kv_widths(spec, kind)
        per = kv_bytes_per_token(spec, r0["kv_type"], kinds=(kind,))
        shape = f"{spec.n_kv_heads} KV heads x {spec.head_dim} x 2 (K,V)" if kind not in ("mla", "dsa") else \
            f"latent {spec.kv_lora_rank} + rope {spec.qk_rope_dim} (K only; V is a view of it)"
        if kind == "dsa":
            shape += f" + indexer key {spec.index_head_dim}"
        lines.append(f"KV {kind}: {n} layers x {shape} in {r0['kv_type']} = {per:,} B/token"
                     + (f" (window {spec.sliding_window} + ubatch 512 cells, padded to 256)" if kind == "sliding" else ""))
    conv, rec = state_elements_per_layer(spec)
    if conv or rec:
        n = kinds.count("linear") + kinds.count("mamba")
        lines.append(f"State: {n} {'Gated DeltaNet' if 'linear' in kinds else 'Mamba-2'} layers x (conv {spec.conv_kernel - 1} x {spec.linear_conv_channels} + "
                     f"recurrent {spec.linear_v_heads} x {spec.linear_k_dim} x {spec.linear_v_dim}) x 4 B (F32) = "
                     f"{n * (conv + rec) * 4 / MiB:.1f} MiB per sequence, independent of context")
    lines.append(f"Overhead (estimate): {OVERHEAD_BASIS}.")
    for hw in hws:
        r = next(x for x in rows if x["hardware"] == hw.label)
        cal = r["calibration"]
        lines.append(f"Usable {hw.label}: {_gib(r['usable_bytes'])} = {r['usable_basis']}.")
        lines.append(f"Speed {hw.label}: t/token = bytes / ({cal['eta']:.2f} x {hw.bandwidth_gbs:g} GB/s) + "
                     f"{cal['t0_ms']:.1f} ms; band x{cal['band'][0]:.2f}-x{cal['band'][1]:.2f} "
                     f"[{cal['family']} x {cal['engine']}: {cal['basis']}]")
    # Engine: llama.cpp in process vs behind a server (tokbench.plan.estimate's notes say which).
    lines += sorted({n for r in rows for n in r.get("notes", []) if "llama.cpp" in n and "server" in n})
    return lines


def render_model(spec, rows: list[dict], hws, comps: list[dict], short: dict) -> None:
    """Print the memory table, the speed table (with hardware), the derivation and seed disagreements."""
    from tokbench.plan.seed import disagreements

    con = _console()
    con.print(_describe(spec))
    if comps:
        con.print("Sharing the machine: " + ", ".join(f"{c['model']} {c['quant']} @ {_ctx(c['context'])} "
                                                     f"({_gib(c['total_bytes'])})" for c in comps))
    con.print(_memory_table(rows, hws, rows[0]["context"]))
    if hws:
        con.print(_speed_table(rows, short))
    con.print("How these numbers are made:")
    for line in _derivation(spec, rows, hws):
        con.print(f"  - {line}")
    notes = disagreements(spec, rows, short)
    if notes:
        con.print("Where this disagrees with the seed document:")
        for line in notes:
            con.print(f"  - {line}")


def render_recommend(rows: list[dict], hws, min_tps: float, context: int, comps: list[dict]) -> None:
    """Print the ranked options that fit and reach ``min_tps``."""
    from rich.table import Table

    con = _console()
    t = Table(title=f"Options reaching {min_tps:g} tok/s at {_ctx(context)} depth on {', '.join(h.label for h in hws)}")
    for col in ("Hardware", "Model", "Quant", "Size", "Total", "Free", "Est. tok/s", "Ceiling"):
        t.add_column(col, justify="left" if col in ("Hardware", "Model", "Quant") else "right")
    for r in rows:
        t.add_row(r["hardware"], r["model"], r["quant"], _gib(r["weights_bytes"]), _gib(r["total_bytes"]),
                  _gib(r["free_bytes"]), f"{r['decode_tps']:.0f} ({r['decode_tps_low']:.0f}-{r['decode_tps_high']:.0f})",
                  f"{r['decode_tps_ceiling']:.0f}")
    if comps:
        con.print("Memory already taken by: " + ", ".join(f"{c['model']} {c['quant']} ({_gib(c['total_bytes'])})"
                                                          for c in comps))
    con.print(t if rows else f"No catalog option fits and reaches {min_tps:g} tok/s.")
