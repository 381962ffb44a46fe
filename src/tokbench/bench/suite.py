"""Suites for ``tokbench bench``: a TOML matrix (models x quants x engines x workloads, or agent
mixes) -> run specs of one job.

Each run is one model file on one engine with its list of points (or one agent mix); the runs of
a suite are one job, stored under one ``suite_id`` that ``--resume`` finishes whole. The shipped
suites live in ``tokbench/suites`` (``default.toml``: what ``tokbench bench`` runs; ``seed.toml``:
the seed's tables, scaled; ``agents.toml``: what ``--workload agents`` runs).

Workload kinds: ``single`` (one stream, ``repetitions`` requests at ``context_depth``), ``sweep``
(closed loop at each ``concurrency`` level and depth), ``rate`` (open loop at ``rate`` req/s,
``arrival`` constant or poisson). Models: ``synth = "default"``, ``path = FILE``, or
``spec = CATALOG_ID`` with ``quants`` and optional ``scale_layers`` / ``scale_width`` (synthesized
once and cached).
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from tokbench.bench.job import KINDS, ModelRef, RunSpec, Target
from tokbench.errors import UserError, unknown
from tokbench.loadgen.scheduler import Point


def load_suite_file(name_or_path: str) -> tuple[dict, str]:
    """Parse a suite TOML (a path, or the name of a shipped suite); returns (doc, source)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    p = Path(name_or_path)
    if p.is_file():
        text, source = p.read_text(), str(p)
    else:
        shipped = resources.files("tokbench.suites")
        names = sorted(f.name[:-5] for f in shipped.iterdir() if f.name.endswith(".toml"))
        stem = name_or_path[:-5] if name_or_path.endswith(".toml") else name_or_path
        if stem not in names:
            raise unknown("suite (no such file either)", name_or_path, names)
        text, source = (shipped / f"{stem}.toml").read_text(), f"tokbench/suites/{stem}.toml"
    try:
        return tomllib.loads(text), source
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"suite {source}: {exc}") from None


def suite_name(doc: dict, source: str) -> str:
    """The suite's name (its [suite] name, else the file's stem)."""
    return str((doc.get("suite") or {}).get("name") or Path(source).stem)


def _ints(v: Any, key: str) -> list[int]:
    vals = v if isinstance(v, list) else [v]
    try:
        out = [int(x) for x in vals]
    except (TypeError, ValueError):
        raise UserError(f"suite: {key} must be an integer or a list of integers, got {v!r}") from None
    if any(x < 0 for x in out):
        raise UserError(f"suite: {key} must not be negative, got {v!r}")
    return out


def workload_points(w: dict, overrides: dict) -> list[tuple[str, Point]]:
    """Expand one workload table (with CLI overrides applied) into (kind, Point) pairs."""
    w = {**w, **{k: v for k, v in overrides.items() if v is not None}}
    kind = w.get("kind", "sweep")
    if kind not in KINDS:
        raise unknown("workload kind", str(kind), KINDS)
    depths = _ints(w.get("context_depth", 512), "context_depth")
    common = dict(gen_tokens=int(w.get("gen_tokens", 64)), warmup=int(w.get("warmup", 1)),
                  api=w.get("api", "completions"), cache_prompt=bool(w.get("cache_prompt", False)),
                  duration=w.get("duration"), timeout_s=float(w.get("timeout_s", 600)))
    out = []
    for d in depths:
        if kind == "single":
            n = int(w.get("requests") or w.get("repetitions", 3))
            out.append((kind, Point(concurrency=1, context_depth=d, requests=None if common["duration"] else n,
                                    label=f"single d={d}", **common)))
            continue
        for c in _ints(w.get("concurrency", 1), "concurrency"):
            n = w.get("requests") or max(1, c) * int(w.get("requests_per_stream", 2))
            rate = w.get("rate") if kind == "rate" else None
            if kind == "rate" and not rate:
                raise UserError("suite: a 'rate' workload needs rate = R (requests per second)")
            out.append((kind, Point(concurrency=c, context_depth=d, requests=None if common["duration"] else int(n),
                                    rate=rate, arrival=w.get("arrival", "constant"), **common)))
    return out


def suite_models(doc: dict) -> list[tuple[ModelRef, list[str], list[str] | None]]:
    """(model, engines, workload names or None for all) of each [[models]] entry and quant."""
    out = []
    for m in doc.get("models", []):
        engines = m.get("engines", ["llama.cpp"])
        wl = m.get("workloads")
        if m.get("synth") == "default":
            out.append((ModelRef("tokbench-default", synth_default=True), engines, wl))
        elif m.get("path"):
            out.append((ModelRef(Path(m["path"]).name, path=m["path"]), engines, wl))
        elif m.get("spec"):
            for q in m.get("quants", ["Q4_K_M"]):
                sl, sw = m.get("scale_layers"), m.get("scale_width")
                tag = "".join(s for s in (f"-L{sl}" if sl else "", f"-W{sw:g}" if sw else ""))
                out.append((ModelRef(f"{m['spec']}{tag} {q}", spec=m["spec"], quant=q, scale_layers=sl,
                                     scale_width=sw), engines, wl))
        else:
            raise UserError("suite: each [[models]] needs synth = \"default\", path = FILE or spec = CATALOG_ID")
    return out


def standard_runs(doc: dict, overrides: dict, targets=None, keep_kinds: tuple[str, ...] = KINDS,
                  extra: list[dict] | None = None) -> list[RunSpec]:
    """The suite's matrix as runs. ``overrides`` (CLI workload flags) apply to every workload;
    ``targets`` (a function from the suite's [(Target, workload names)] to the list to run, or None)
    lets the command line replace the suite's models and engines; ``extra`` workloads are added to
    every model."""
    workloads = [w for w in doc.get("workloads", []) if w.get("kind", "sweep") in keep_kinds] + list(extra or [])
    if not workloads:
        raise UserError("suite has no workloads")
    runs = []
    pairs = [(Target(e, model=ref), names) for ref, engines, names in suite_models(doc) for e in engines]
    if targets is not None:
        pairs = targets(pairs)
    for target, names in pairs:
        chosen = [w for w in workloads if names is None or w.get("name") in names or w in (extra or [])]
        points: list[Point] = []
        kinds: dict[str, str] = {}
        for i, w in enumerate(chosen):
            for kind, point in workload_points(w, overrides):
                point = replace(point, seed=len(points) + 1)
                if point.label in kinds:
                    point = replace(point, label=f"{point.label} #{i}")
                points.append(point)
                kinds[point.label] = kind
        runs.append(RunSpec(target, tuple(points), tuple(kinds.items())))
    if not runs:
        raise UserError("suite has no models")
    return runs


def resolve_model(ref: ModelRef) -> Path:
    """The model file/dir of ``ref``, synthesizing (once, cached) where asked."""
    if ref.path:
        p = Path(ref.path).expanduser()
        if not p.exists():
            raise UserError(f"model not found: {p}")
        return p
    from tokbench import synth

    if ref.synth_default:
        return synth.ensure_default_model()
    from tokbench.modelspec import load_spec

    spec = load_spec(ref.spec)
    mlx = ref.quant.lower().startswith("mlx")
    name = ref.label.replace(" ", "-") + ("" if mlx else ".gguf")
    out = synth.default_model_path().parent / "suite" / f"v{synth.SYNTH_VERSION}" / name
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            synth.synthesize(spec, ref.quant, out, scale_layers=ref.scale_layers, scale_width=ref.scale_width)
        except ModuleNotFoundError as exc:  # e.g. MLX synthesis not installed / not built yet
            raise UserError(f"cannot synthesize {ref.label}: {exc}") from None
    return out

