"""The bench results document: one typed, versioned value per ``tokbench bench`` invocation, read
from the store and rendered alike by the terminal tables, ``--json`` and the reports.

``BenchDocument`` holds the job's runs (``RunResult``: identity, per-point result rows from
tokbench.metrics, the planner's estimate beside each, agent summaries); nothing a renderer shows is
computed by the renderer. ``to_dict`` is the ``--json`` shape: schema and version, ``suite_id``,
``status``, ``runs``, and for a single run that run's keys at the top as well (``run_id``,
``results`` ...), as ``tokbench bench --json`` has always printed them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = "tokbench.bench"
SCHEMA_VERSION = 1


@dataclass
class RunResult:
    """One stored run as measured: identity, result rows (planner beside them), agent summaries."""

    run_id: str
    status: str
    name: str | None
    identity: dict[str, Any]
    kinds: dict[str, str]  # point label -> workload kind (single, sweep, rate, agents)
    results: list[dict] = field(default_factory=list)
    plan: dict | None = None  # the planner's view of the model on the hardware (memory fit, decode band)
    planner_note: str | None = None  # why there is no estimate
    slo: dict | None = None
    workload: str = "standard"
    agents: dict | None = None  # agent runs: summary, stored plan, beside_plan, agents_config

    @property
    def model(self) -> str:
        """The model as the user named it."""
        return str(self.identity.get("model_label") or self.identity.get("model_id") or "?")

    @property
    def engine(self) -> str:
        """The engine as tokbench drove it."""
        return str(self.identity.get("bench_engine") or self.identity.get("engine") or "?")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (``--json``)."""
        d = asdict(self)
        d.update(model=self.model, engine=self.engine)
        if self.agents is not None:  # agent runs: their summary keys at the run's top level
            d.update({k: v for k, v in self.agents.items()})
        return d


@dataclass
class BenchDocument:
    """Every run of one bench invocation (or of one suite)."""

    runs: list[RunResult]
    suite_id: str | None = None
    interrupted: bool = False
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION

    @property
    def status(self) -> str:
        """interrupted | failed | complete (the worst of the runs)."""
        statuses = {r.status for r in self.runs}
        if self.interrupted or "interrupted" in statuses or "running" in statuses:
            return "interrupted"
        return "failed" if "failed" in statuses else "complete"

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document (see the module docstring)."""
        runs = [r.to_dict() for r in self.runs]
        out: dict[str, Any] = {"schema": self.schema, "schema_version": self.schema_version,
                               "suite_id": self.suite_id, "status": self.status, "runs": runs}
        if len(runs) == 1:
            out.update({k: v for k, v in runs[0].items() if k not in out or k == "status"})
        return out


def run_result(store, run_id: str, hardware=None, slo: dict | None = None, with_plan: bool = True) -> RunResult:
    """A stored run as a :class:`RunResult`; ``hardware`` is the planner's (None: the run identity's
    catalog hardware, when it names one); ``with_plan`` False skips the planner (an interrupt)."""
    from tokbench.metrics.agents import SUMMARY_KEY, is_agent_run, summarize_agents
    from tokbench.report.runs import hardware_of, run_identity
    from tokbench.store.export import run_summaries

    info = store.get_run(run_id)
    cfg = info.config or {}
    ident = run_identity(info)
    slo = slo if slo is not None else cfg.get("slo")
    rows = run_summaries(store, run_id, slo)
    meta = store.point_meta(run_id)
    kinds = dict(cfg.get("kinds") or {})
    for label, m in meta.items():
        if isinstance(m, dict) and m.get("kind") and label not in kinds:
            kinds[label] = m["kind"]
    res = RunResult(run_id, info.status, info.name, ident, kinds, rows, slo=slo,
                    workload=cfg.get("workload", "standard"))
    records = store.records(run_id)
    if is_agent_run(records, meta):
        stored = meta.get(SUMMARY_KEY) or {}
        summary = summarize_agents(records, meta)
        plan = stored.get("plan")
        res.agents = {"agents": summary, "plan": plan, "beside_plan": beside_plan(summary, plan),
                      "agents_config": cfg.get("agents"), "workload": "agents", "name": info.name}
        res.workload = "agents"
        return res
    if with_plan:
        _plan(res, info, hardware if hardware is not None else hardware_of(ident, info))
    return res


def _plan(res: RunResult, info, hardware) -> None:
    from tokbench.report import bandwidth
    from tokbench.report.planview import _spec_and_quant, attach_estimates, plan_row, planner_note, point_estimates

    model_path = ((info.environment or {}).get("model") or {}).get("path")
    # Bandwidth achieved needs only the model's bytes (its % also the hardware's nominal bandwidth).
    spec, quant = _spec_and_quant(res.identity, model_path)
    bandwidth.attach(res.results, spec, quant, getattr(hardware, "bandwidth_gbs", None))
    res.planner_note = planner_note(res.identity, hardware)
    attach_estimates(res.results, point_estimates(res.identity, model_path, hardware, res.results))
    depths = [r["context_depth"] for r in res.results if isinstance(r.get("context_depth"), int)]
    if depths:
        res.plan = plan_row(res.identity, model_path, hardware, max(depths))


def beside_plan(summary: dict, plan: dict | None) -> list[dict]:
    """Measured decode tok/s next to the planner's, per role: alone and under load (first cache mode)."""
    roles = (plan or {}).get("roles") or {}
    modes = summary.get("modes") or {}
    m = modes.get("on") or next(iter(modes.values()), {})
    measured = {"main": (m.get("main_decode_tps_alone"), m.get("main_decode_tps_load")),
                "sub": (None, m.get("sub_decode_tps"))}
    out = []
    for role, (alone, load) in measured.items():
        est = roles.get(role, {})
        e_load = est.get("decode_tps_load")
        out.append({"role": role, "measured_alone": alone, "estimated_alone": est.get("decode_tps_alone"),
                    "measured_load": load, "estimated_load": e_load,
                    "measured_over_estimate_load": load / e_load if load and e_load else None})
    return out


def bench_document(store, run_ids: list[str], suite_id: str | None = None, hardware: dict | None = None,
                   slo: dict | None = None, interrupted: bool = False) -> BenchDocument:
    """The document of these runs; ``hardware``: run id -> the Hardware the planner assumes for it.
    The planner is skipped when interrupted (Ctrl-C must end the command at once)."""
    runs = [run_result(store, rid, (hardware or {}).get(rid), slo, with_plan=not interrupted) for rid in run_ids]
    return BenchDocument(runs, suite_id, interrupted)
