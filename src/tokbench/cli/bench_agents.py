"""``tokbench bench --workload agents``: the agent workload's flags and its terminal tables.

The mixes themselves are built into the job by tokbench.bench.agents_job (suite ``[[agents]]``
tables with these flags on top) and run by the one pipeline (tokbench.bench.lifecycle); this
module only parses and renders. Nothing heavy is imported at module level (``bench`` registers
these flags at start-up).
"""

from __future__ import annotations

_SPEC_FLAGS = {"turns": "turns", "subagents": "subagents", "tasks_per_turn": "tasks_per_turn",
               "system_tokens": "system_tokens", "user_tokens": "user_tokens", "gen_tokens": "main_gen_tokens",
               "sub_system_tokens": "sub_system_tokens", "sub_prompt_tokens": "sub_prompt_tokens",
               "sub_gen_tokens": "sub_gen_tokens", "dispatch": "dispatch", "warmup": "warmup", "api": "api"}


def add_agent_args(p) -> None:
    """Add the agent workload's flags to the ``bench`` parser (argparse only)."""
    g = p.add_argument_group("agent workload (--workload agents)")
    g.add_argument("--workload", choices=("standard", "agents"), default="standard",
                   help="agents: a main agent's growing session with sub-agents beside it (default: standard)")
    g.add_argument("--main-endpoint", help="main agent's OpenAI-compatible URL (default: --endpoint)")
    g.add_argument("--main-model", help="main agent's model: name at its endpoint, else a file to launch (default: the suite's: the synthetic default model)")
    g.add_argument("--sub-endpoint", help="sub-agents' OpenAI-compatible URL (default: none; sub-agents share the main's server)")
    g.add_argument("--sub-model", help="sub-agents' model: name at --sub-endpoint, else a file to launch (default: the suite's)")
    g.add_argument("--sub-engine", help="engine launching --sub-model (default: the main's engine)")
    g.add_argument("--sub-tokenizer", help="local tokenizer for the sub-agents' endpoint (default: its tokenize endpoint)")
    g.add_argument("--turns", type=int, help="main agent turns (default: 4)")
    g.add_argument("--subagents", type=int, help="sub-agent tasks in flight at once (default: 2)")
    g.add_argument("--tasks-per-turn", type=int,
                   help="sub-agent tasks each main turn dispatches (default: --subagents)")
    g.add_argument("--system-tokens", type=int, help="main agent's shared system prompt tokens (default: 512)")
    g.add_argument("--user-tokens", type=int, help="tokens each main turn appends as the new user message (default: 64)")
    g.add_argument("--sub-system-tokens", type=int, help="sub-agents' shared system prompt tokens, 0: none (default: 128)")
    g.add_argument("--sub-prompt-tokens", type=int, help="tokens of each sub-agent task (default: 128)")
    g.add_argument("--sub-gen-tokens", type=int, help="output tokens of each sub-agent task (default: 64)")
    g.add_argument("--prefix-cache", choices=("on", "off", "both"), help="prefix cache modes to run (default: both)")
    g.add_argument("--dispatch", choices=("with", "after"),
                   help="sub-agent tasks start with their main turn or after its answer (default: with)")
    g.add_argument("--no-baseline", action="store_true", help="skip the main-agent-alone phase (default: run it)")
    g.add_argument("--main-plan", metavar="MODEL:QUANT", help="what the planner assumes for the main model (default: the model file)")
    g.add_argument("--sub-plan", metavar="MODEL:QUANT", help="what the planner assumes for the sub-agent model (default: the model file)")


def agent_overrides(args) -> tuple:
    """AgentSpec fields the command line sets (for --workload agents), as (name, value) pairs."""
    if getattr(args, "workload", "standard") != "agents" and not getattr(args, "suite", None):
        return ()
    over = {dst: getattr(args, src) for src, dst in _SPEC_FLAGS.items() if getattr(args, src, None) is not None}
    if getattr(args, "prefix_cache", None):
        over["prefix_cache"] = ("on", "off") if args.prefix_cache == "both" else (args.prefix_cache,)
    if getattr(args, "no_baseline", False):
        over["baseline"] = False
    return tuple(over.items())


def check_agent_args(args) -> None:
    """Agent flag values a user can get wrong: one line each (UserError)."""
    from tokbench.errors import UserError

    for flag in ("turns", "system_tokens", "user_tokens", "sub_prompt_tokens", "sub_gen_tokens"):
        v = getattr(args, flag, None)
        if v is not None and v < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be at least 1")
    for flag in ("subagents", "tasks_per_turn", "sub_system_tokens"):
        v = getattr(args, flag, None)
        if v is not None and v < 0:
            raise UserError(f"--{flag.replace('_', '-')} must not be negative")


def _f(v, digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def render(con, title: str, summary: dict, plan: dict | None) -> None:
    """The agent tables: per role and phase, the main agent by turn, then the planner beside them."""
    from rich.table import Table

    con.print(f"[bold]{title}[/bold]")
    t = Table(title="Agents: per role (TTFT/E2E p50 ms, decode tok/s per stream)", box=None, header_style="bold",
              title_justify="left")
    for h in ("phase", "cache", "role", "ok/n", "prompt tok", "TTFT", "E2E", "decode", "sub overlap", "makespan s"):
        t.add_column(h, justify="right")
    for r in summary["rows"]:
        pt = r.get("prompt_tokens") or [None, None]
        t.add_row(r["phase"], r["prefix_cache"], r["role"], f"{r['ok']}/{r['requests']}", f"{pt[0]}-{pt[1]}",
                  _f(r["ttft_ms"]["p50"]), _f(r["e2e_ms"]["p50"]), _f(r["decode_tps"]),
                  "-" if r.get("sub_overlap") is None else f"{r['sub_overlap']:.0%}", _f(r.get("makespan_s"), 2))
    con.print(t)
    keys = list(dict.fromkeys((x["phase"], x["prefix_cache"]) for x in summary["turns"]))
    t = Table(title="Main agent by turn: TTFT ms as the context grows", box=None, header_style="bold",
              title_justify="left")
    for h in ["turn", "prompt tok"] + [f"{p} cache={c}" for p, c in keys]:
        t.add_column(h, justify="right")
    by = {(x["phase"], x["prefix_cache"], x["turn"]): x for x in summary["turns"]}
    for turn in sorted({x["turn"] for x in summary["turns"]}):
        first = next(x for x in summary["turns"] if x["turn"] == turn)
        cells = [_f((by.get((p, c, turn)) or {}).get("ttft_ms")) for p, c in keys]
        t.add_row(str(turn), str(first["prompt_tokens"]), *cells)
    con.print(t)
    for mode, m in summary["modes"].items():
        ratio = m.get("load_over_alone")
        con.print(f"cache={mode}: main decode {_f(m['main_decode_tps_alone'])} tok/s alone, "
                  f"{_f(m['main_decode_tps_load'])} under sub-agent load"
                  f"{'' if ratio is None else f' (x{ratio:.2f})'}; sub TTFT {_f(m['sub_ttft_ms'])} ms, "
                  f"E2E {_f(m['sub_e2e_ms'])} ms, {_f(m['sub_decode_tps'])} tok/s; makespan {_f(m['makespan_s'], 2)} s")
    if summary.get("prefix_cache_ttft_ratio") is not None:
        con.print(f"prefix cache: main TTFT after turn 1 is x{summary['prefix_cache_ttft_ratio']:.2f} of uncached")
    _render_plan(con, summary, plan)


def _render_plan(con, summary: dict, plan: dict | None) -> None:
    if not plan or plan.get("error"):
        con.print(f"[dim]planner: {(plan or {}).get('error', 'no estimate')}[/dim]")
        return
    gb = lambda b: "-" if b is None else f"{b / 1e9:.2f} GB"  # noqa: E731
    parts = ", ".join(f"{s['server']} ({'+'.join(s['roles'])}: {s['model']}) {gb(s['total_bytes'])}"
                      for s in plan["servers"])
    con.print(f"[bold]Planner on {plan['hardware']}[/bold]: {parts}; together {gb(plan['total_bytes'])} of "
              f"{gb(plan['usable_bytes'])} usable -> {'fits' if plan['fits'] else 'does not fit'}")
    from tokbench.report.results import beside_plan

    for row in beside_plan(summary, plan):
        con.print(f"  {row['role']}: decode alone est. {_f(row['estimated_alone'])} / meas. {_f(row['measured_alone'])}"
                  f" tok/s; under load est. {_f(row['estimated_load'])} / meas. {_f(row['measured_load'])} tok/s")
