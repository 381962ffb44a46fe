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


def _band(r: dict) -> str:
    return f"{r['decode_tps']:.0f} ({r['decode_tps_low']:.0f}-{r['decode_tps_high']:.0f})"


def _speed_table(rows: list[dict], short: dict):
    """Decode speed at the planned depth; with --concurrency N, per stream and aggregate at N in columns
    of their own (the single-stream figure keeps its own column, labelled as such)."""
    from rich.table import Table

    n, depth = rows[0]["concurrency"], _ctx(rows[0].get("depth") or rows[0]["context"])
    t = Table(title=f"Decode speed at {depth} depth" + (f", {n} concurrent streams" if n > 1 else ", single stream"))
    cols = ["Config", "Quant", "Est. tok/s (1 stream)"] + ([f"Per stream at {n}", f"Aggregate at {n}"] if n > 1 else [])
    for col in cols + ["Notes"]:
        t.add_column(col, justify="right" if "tok/s" in col or " at " in col else "left")
    for r in rows:
        notes = [f"ceiling {r['decode_tps_ceiling']:.0f} = {r['bytes_per_token'] / 1e9:.2f} GB/token "
                 f"({r['active_bytes_per_token'] / 1e9:.2f} weights) at {depth}"]
        s = short.get((r["hardware"], r["quant"]))
        if s:
            notes.append(f"{_band(s)} at 4K")
        if n > 1 and r["compute_bound"]:
            notes.append(f"compute-bound at {n}")
        if r["prefill_tps"]:
            notes.append(f"prefill {_prefill_band(r)}")
        if not r["fits"]:
            notes.append("DOES NOT FIT")
        cells = [r["hardware"], f"{r['quant']} ({_gib(r['weights_bytes'])})", _band(r)]
        if n > 1:
            cells += [f"{r['per_stream_decode_tps']:.0f}", f"{r['aggregate_decode_tps']:.0f}"]
        t.add_row(*cells, "; ".join(notes))
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
        ms = cal["step_ms"]
        stream = f"{cal['eta_mem']:.0%} of {hw.bandwidth_gbs:g} GB/s"
        if cal.get("cache_resident"):
            stream += f" (the weights fit in half its {hw.llc_mib:g} MiB last-level cache: no per-core cap)"
        elif cal.get("stream_gbs") and cal["stream_gbs"] < 0.999 * hw.bandwidth_gbs:
            stream = (f"{cal['eta_mem']:.0%} of {cal['stream_gbs']:.3g} GB/s (what {hw.compute_units} cores stream; "
                      f"the memory gives {hw.bandwidth_gbs:g} GB/s)")
        lines.append(f"Speed {hw.label} ({r['quant']}): one token = weights {ms['weights']:.2f} ms (each storage "
                     f"type at the slower of {stream} and its kernels' "
                     f"throughput on {cal['generation']}: {cal['weights_bound']} bound) + KV/state {ms['kv']:.2f} ms + "
                     f"{cal['graph_nodes']} graph nodes {ms['nodes']:.2f} ms; band x{cal['band'][0]:.2f}-"
                     f"x{cal['band'][1]:.2f}, {cal['level_text']} [{cal['basis']}]")
    # Engine: llama.cpp in process vs behind a server (tokbench.plan.estimate's notes say which).
    lines += sorted({n for r in rows for n in r.get("notes", []) if "llama.cpp" in n and "server" in n})
    # What a batched step's kernel terms rest on (a chip generation's own steps, or other generations').
    lines += [n for r in rows for n in r.get("notes", [])
              if "sequences per decode step" in n or "closed-loop sweep" in n]
    return lines


def render_model(spec, rows: list[dict], hws, comps: list[dict], short: dict, notes=()) -> None:
    """Print the memory table, the speed table (with hardware), the derivation and seed disagreements."""
    from tokbench.plan.seed import disagreements

    con = _console()
    con.print(_describe(spec))
    for line in notes:
        con.print(f"Note: {line}")
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


def render_recommend(rows: list[dict], hws, min_tps: float, context: int, comps: list[dict], left_out=()) -> None:
    """Print the ranked options that fit and reach ``min_tps`` (one stream at ``context`` depth)."""
    from rich.table import Table

    con = _console()
    n = rows[0]["concurrency"] if rows else 1
    t = Table(title=f"Options reaching {min_tps:g} tok/s (one stream) at {_ctx(context)} depth on "
                    f"{', '.join(h.label for h in hws)}" + (f", memory for {n} sequences" if n > 1 else ""))
    cols = ["Hardware", "Model", "Quant", "Size", "Total", "Free", "Est. tok/s (1 stream)"]
    cols += [f"Per stream at {n}", f"Aggregate at {n}"] if n > 1 else []
    for col in cols + ["Ceiling"]:
        t.add_column(col, justify="left" if col in ("Hardware", "Model", "Quant") else "right")
    for r in rows:
        cells = [r["hardware"], r["model"], r["quant"], _gib(r["weights_bytes"]), _gib(r["total_bytes"]),
                 _gib(r["free_bytes"]), _band(r)]
        if n > 1:
            cells += [f"{r['per_stream_decode_tps']:.0f}", f"{r['aggregate_decode_tps']:.0f}"]
        t.add_row(*cells, f"{r['decode_tps_ceiling']:.0f}")
    if comps:
        con.print("Memory already taken by: " + ", ".join(f"{c['model']} {c['quant']} ({_gib(c['total_bytes'])})"
                                                          for c in comps))
    con.print(t if rows else f"No catalog option fits and reaches {min_tps:g} tok/s.")
    if left_out:
        con.print("Left out, as " + _ctx(context) + " is past their maximum context (--extrapolate keeps them): "
                  + ", ".join(f"{m} ({_ctx(c)})" for m, c in left_out))


def _cluster_memory_table(rows: list[dict]):
    """Per node of each (quant, cluster, split): its layers and memory (the link changes no byte)."""
    from rich.table import Table

    r0 = rows[0]
    t = Table(title=f"Memory per node at {_ctx(r0['context'])} context x {r0['concurrency']} sequence(s)")
    for col in ("Cluster", "Split", "Quant", "Node", "Layers", "Weights", "KV", "State", "Overhead", "Total", "Fits?"):
        t.add_column(col, justify="left" if col in ("Cluster", "Split", "Quant", "Node", "Layers") else "right")
    seen = set()
    for r in rows:
        key = (r["hardware"], r["split"], r["quant"])
        if key in seen:
            continue
        seen.add(key)
        for i, n in enumerate(r["nodes"]):
            fits = f"Yes ({_gib(n['usable_bytes'] - n['total_bytes'])} free)" if n["fits"] else \
                f"No (short {_gib(n['total_bytes'] - n['usable_bytes'])})"
            head = [r["hardware"], r["split"], r["quant"]] if i == 0 else ["", "", ""]
            t.add_row(*head, f"{i}: {n['hardware']}", n["layers"], _gib(n["weights_bytes"]), _gib(n["kv_bytes"]),
                      _gib(n["state_bytes"]), _gib(n["overhead_bytes"]), _gib(n["total_bytes"]), fits)
    return t


def _prefill_band(r: dict) -> str:
    """``3,063 (2,144-5,513)``: the prefill estimate with its band; "-" without an FP16 peak."""
    if r.get("prefill_tps") is None:
        return "-"
    if r.get("prefill_tps_low") is None:
        return f"{r['prefill_tps']:,.0f}"
    return f"{r['prefill_tps']:,.0f} ({r['prefill_tps_low']:,.0f}-{r['prefill_tps_high']:,.0f})"


def _cluster_speed_table(rows: list[dict]):
    """One row per (quant, cluster, split, link): decode with band, prefill, link cost, one node alone."""
    from rich.table import Table

    n, depth = rows[0]["concurrency"], _ctx(rows[0].get("depth") or rows[0]["context"])
    t = Table(title=f"Decode and prefill at {depth} depth" + (f", {n} concurrent streams" if n > 1 else ", single stream"))
    cols = ["Cluster", "Split", "Link", "Quant", "Est. tok/s (1 stream)"]
    cols += [f"Per stream at {n}", f"Aggregate at {n}"] if n > 1 else []
    cols += [f"Prefill tok/s ({_ctx(rows[0].get('prompt_tokens') or rows[0]['context'])} prompt)", "Link ms/token",
             "One node alone", "Runs?"]
    for col in cols:
        t.add_column(col, justify="left" if col in ("Cluster", "Split", "Link", "Quant", "Runs?") else "right")
    for r in rows:
        cells = [r["hardware"], r["split"], r["link"], r["quant"], _band(r)]
        if n > 1:
            cells += [f"{r['per_stream_decode_tps']:.0f}", f"{r['aggregate_decode_tps']:.0f}"]
        one = r["single_node_decode_tps"]
        cells += [_prefill_band(r), f"{r['link_ms_per_token']:.2f}",
                  f"{one:.0f}" if one else "does not fit", "yes" if r["feasible"] else "NO: " + "; ".join(r["problems"])]
        t.add_row(*cells)
    return t


def render_cluster(spec, rows: list[dict]) -> None:
    """Print a cluster plan: the model, per-node memory, speed per link, and how the numbers are made."""
    con = _console()
    con.print(_describe(spec))
    con.print(f"Engine: {rows[0]['engine']}")
    con.print(_cluster_memory_table(rows))
    con.print(_cluster_speed_table(rows))
    con.print("How these numbers are made:")
    con.print("  - Each node runs its share of the work (pipeline: its layer range, sized to its usable memory; tensor: "
              "1/N of every matrix; expert: 1/N of the routed experts) at its own calibrated speed; a pipeline adds "
              "the stages (prefill: overlapped ubatch by ubatch), tensor and expert splits take the slowest node; "
              "the link adds round trips x latency + bytes / bandwidth per hop or all-reduce (tokbench.plan.cluster).")
    for line in dict.fromkeys(n for r in rows for n in r["notes"]):
        con.print(f"  - {line}")
