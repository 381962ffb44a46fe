"""The bench job: the command line (or a suite, or a stored run for ``--resume``) parsed once into
frozen, serializable values that everything below ``cli/`` reads.

A :class:`BenchJob` is a list of :class:`RunSpec` (each one stored run: one model on one engine
with its points, or one agent mix), the hardware the planner assumes, SLOs for goodput, and the
suite it came from. ``to_dict`` / ``from_dict`` round-trip it exactly: every run of a job stores the
whole job, so ``--resume`` (of a run or of its suite) rebuilds the same object. Secrets are never
part of a job: the API key is passed beside it at run time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from tokbench.loadgen.agents import AgentSpec
from tokbench.loadgen.scheduler import Point

JOB_VERSION = 1
KINDS = ("single", "sweep", "rate")


@dataclass(frozen=True)
class ModelRef:
    """Where a model tokbench loads or launches comes from."""

    label: str
    path: str | None = None
    spec: str | None = None  # catalog id to synthesize (with quant, scale_*)
    quant: str | None = None
    scale_layers: int | None = None
    scale_width: float | None = None
    synth_default: bool = False


@dataclass(frozen=True)
class Layout:
    """How a target's model is spread over devices or machines (part of the run's identity).

    Launched by tokbench: ``rpc`` loopback rpc-servers (llama.cpp RPC), ``split_mode`` / ``tensor_split``
    (llama.cpp ``-sm`` / ``-ts`` over this machine's GPUs). Stated for an endpoint (exo, MLX distributed,
    vLLM ...): ``nodes`` as ``tokbench plan --hardware`` spells a cluster, with ``link`` and ``split``."""

    rpc: int = 0
    split_mode: str | None = None  # layer | row | tensor
    tensor_split: tuple[float, ...] = ()
    nodes: str | None = None  # "2x m3-ultra-80c:512" or "m3-ultra-80c:512+m3-ultra-80c:256"
    link: str | None = None  # link catalog id (tokbench.plan.cluster.links)
    split: str | None = None  # pipeline | tensor | expert

    def engine_options(self) -> dict[str, Any]:
        """Options for a launched llama.cpp server (nothing for a stated endpoint layout)."""
        out: dict[str, Any] = {}
        if self.rpc:
            out["rpc"] = self.rpc
        if self.split_mode:
            out["split_mode"] = self.split_mode
        if self.tensor_split:
            out["tensor_split"] = self.tensor_split
        return out


@dataclass(frozen=True)
class Target:
    """Where one role's requests go: a model an engine loads or launches, or a user's endpoint."""

    engine: str  # a name of the one engine table (tokbench.catalog.engines)
    model: ModelRef | None = None
    endpoint: str | None = None
    model_name: str | None = None  # the model's name at the endpoint (None: the server's first)
    tokenizer: str | None = None  # local tokenizer dir for exact prompt lengths over HTTP
    threads: int | None = None
    plan: str | None = None  # MODEL:QUANT the planner assumes (an endpoint, or a model it cannot read)
    layout: Layout | None = None  # over several devices or machines (None: one machine as it comes)

    @property
    def label(self) -> str:
        """What the user would call this model."""
        if self.model is not None:
            return self.model.label
        return self.model_name or "(server default)"


@dataclass(frozen=True)
class RunSpec:
    """One stored run: a target with its points, or an agent mix (``agents``) on one or two targets."""

    target: Target
    points: tuple[Point, ...] = ()
    kinds: tuple[tuple[str, str], ...] = ()  # (point label, workload kind)
    agents: AgentSpec | None = None
    sub: Target | None = None  # agents: the sub-agents' own target (None: they share the main's)
    name: str | None = None

    def kind_of(self, label: str) -> str:
        """Workload kind of a point label ("" when unknown)."""
        return dict(self.kinds).get(label, "")


@dataclass(frozen=True)
class BenchJob:
    """Everything ``tokbench bench`` was asked to do."""

    runs: tuple[RunSpec, ...]
    hardware: str | None = None  # catalog id the planner assumes (None: this host, when recognized)
    slo: tuple[tuple[str, float], ...] = ()
    workload: str = "standard"  # or "agents"
    suite: str | None = None  # suite name (several runs share a suite id)
    name: str | None = None
    version: int = JOB_VERSION

    @property
    def slo_dict(self) -> dict[str, float] | None:
        """SLOs as a dict (None when none)."""
        return dict(self.slo) or None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (round-trips through :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchJob:
        """Inverse of :meth:`to_dict`."""
        runs = tuple(_run(r) for r in d.get("runs", ()))
        return cls(runs=runs, hardware=d.get("hardware"), slo=tuple((k, float(v)) for k, v in d.get("slo") or ()),
                   workload=d.get("workload", "standard"), suite=d.get("suite"), name=d.get("name"),
                   version=int(d.get("version", JOB_VERSION)))


def _pick(cls, d: dict | None):
    if d is None:
        return None
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


def _target(d: dict | None) -> Target | None:
    if d is None:
        return None
    layout = _pick(Layout, d.get("layout"))
    if layout is not None:
        layout = Layout(**{**layout.__dict__, "tensor_split": tuple(layout.tensor_split or ())})
    return Target(**{**{k: v for k, v in d.items() if k in {f.name for f in fields(Target)}},
                     "model": _pick(ModelRef, d.get("model")), "layout": layout})


def _run(d: dict) -> RunSpec:
    agents = AgentSpec.from_dict(d["agents"]) if d.get("agents") else None
    return RunSpec(target=_target(d["target"]), points=tuple(_pick(Point, p) for p in d.get("points", ())),
                   kinds=tuple(tuple(k) for k in d.get("kinds", ())), agents=agents, sub=_target(d.get("sub")),
                   name=d.get("name"))


def from_legacy_config(config: dict) -> BenchJob:
    """The job of a run stored before jobs were (config keys engine, model, points, kinds)."""
    opts = config.get("engine_options") or {}
    engine = config.get("engine") or "llama.cpp"
    model = _pick(ModelRef, config.get("model")) if isinstance(config.get("model"), dict) else None
    target = Target(engine, model=None if engine == "openai" else model, endpoint=opts.get("endpoint"),
                    model_name=opts.get("model") if engine == "openai" else None, tokenizer=opts.get("tokenizer"),
                    threads=opts.get("n_threads"))
    points = tuple(_pick(Point, p) for p in config.get("points", ()))
    run = RunSpec(target, points, tuple((config.get("kinds") or {}).items()))
    slo = tuple((config.get("slo") or {}).items())
    return BenchJob((run,), hardware=config.get("hardware_id"), slo=slo)


@dataclass(frozen=True)
class BenchArgs:
    """The ``bench`` command line as plain values (what cli/bench.py parsed; no argparse here)."""

    engine: str | None = None
    model: str | None = None
    endpoint: str | None = None
    tokenizer: str | None = None
    api: str | None = None
    suite: str | None = None
    concurrency: tuple[int, ...] | None = None
    rate: float | None = None
    arrival: str | None = None
    requests: int | None = None
    duration: float | None = None
    gen_tokens: int | None = None
    context_depth: tuple[int, ...] | None = None
    repetitions: int | None = None
    warmup: int | None = None
    timeout: float | None = None
    slo: tuple[tuple[str, float], ...] = ()
    cache_prompt: bool = False
    threads: int | None = None
    hardware: str | None = None
    name: str | None = None
    workload: str = "standard"
    agents: tuple[tuple[str, Any], ...] = ()  # AgentSpec overrides from --turns, --subagents ...
    main_endpoint: str | None = None
    main_model: str | None = None
    sub_endpoint: str | None = None
    sub_model: str | None = None
    sub_engine: str | None = None
    sub_tokenizer: str | None = None
    main_plan: str | None = None
    sub_plan: str | None = None
    plan: str | None = None
    rpc: int | None = None  # --rpc N
    split_mode: str | None = None  # --split-mode
    tensor_split: tuple[float, ...] = ()  # --tensor-split
    topology: str | None = None  # --topology (what an endpoint spans)
    link: str | None = None  # --link
    split: str | None = None  # --split
