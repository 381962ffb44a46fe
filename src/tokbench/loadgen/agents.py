"""Agent workload: a main coding agent in a growing multi-turn session, with sub-agents beside it.

The task graph (one *session*): the main agent runs ``turns`` turns; each turn dispatches
``tasks_per_turn`` sub-agent tasks, run by ``subagents`` workers at once, and the next main turn
starts only after every task of the turn (and the main request) ended. ``dispatch = "with"``
starts the tasks together with the turn's main request (the main agent keeps streaming while its
sub-agents work: main decode under sub-agent load); ``"after"`` starts them when the main answer
has ended (strict tool-call order: no main/sub overlap).

Prompts, with exact token accounting (every length is measured with the engine's own tokenizer):
- main turn t = shared system prompt (``system_tokens``, BOS included) + the history
  ``user_1, answer_1, ..., user_{t-1}, answer_{t-1}`` + ``user_t``; so turn t has
  ``system + (t-1) * (user + answer) + user`` tokens, strictly growing. The answer appended is a
  stand-in text of exactly ``main_gen_tokens`` tokens (the engine protocol streams token counts,
  not text), so the prefix a server can reuse is the whole previous prompt.
- sub-agent task = the shared sub-agent system prompt (``sub_system_tokens``, 0 = none) + its own
  task text (``sub_prompt_tokens``).
- prefix cache ``on``: ``cache_prompt`` is sent (llama-server) and turn t+1 starts with turn t's
  exact text, so a server keeps its KV. ``off``: ``cache_prompt`` false and every prompt starts with
  a marker unique to it, so nothing beyond BOS can be reused (llama-cpp-python's server reuses any
  common prefix by itself; only distinct prefixes defeat it).

Phases: for each prefix-cache mode, ``alone`` (the main session with no sub-agents: its baseline)
then ``load`` (the task graph). Point labels keep one context depth each, as sweep points do:
``agents <phase> cache=<mode> main t=<turn>`` per main turn and ``agents <phase> cache=<mode> sub``.
Records carry ``role`` "main" / "sub"; each phase's graph (turns, record indices, spans, makespan)
goes to point metadata under ``agents <phase> cache=<mode>`` (kind ``agents-phase``), and
:func:`tokbench.metrics.agents.summarize_agents` derives every agent metric from the records and
that metadata (pure).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from tokbench.engines.protocol import Engine, Prompt, clock
from tokbench.errors import UserError
from tokbench.loadgen.lag import LagMonitor
from tokbench.loadgen.prompts import exact_prompt
from tokbench.loadgen.scheduler import Scheduler, Shape, Stopped, until_stopped
from tokbench.metrics.agents import summarize_agents  # noqa: F401 - re-exported; pure metrics live there
from tokbench.records import RequestRecord

MODES = ("on", "off")
DISPATCH = ("with", "after")
SEP = "\n"  # between prompt parts: keeps each part's tokens apart from its neighbours'


@dataclass(frozen=True)
class AgentSpec:
    """Shape of the agent workload (token sizes are exact, as the serving engine counts them)."""

    turns: int = 4
    subagents: int = 2  # sub-agent tasks in flight at once
    tasks_per_turn: int | None = None  # tasks each main turn dispatches (default: subagents)
    system_tokens: int = 512
    user_tokens: int = 64
    main_gen_tokens: int = 64
    sub_system_tokens: int = 128
    sub_prompt_tokens: int = 128
    sub_gen_tokens: int = 32
    prefix_cache: tuple[str, ...] = MODES
    dispatch: str = "with"
    baseline: bool = True  # run the main session alone first (decode tok/s without sub-agents)
    api: str = "completions"
    warmup: int = 1
    timeout_s: float = 600.0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix_cache", tuple(self.prefix_cache))
        if self.tasks_per_turn is None:
            object.__setattr__(self, "tasks_per_turn", self.subagents)

    def validate(self) -> AgentSpec:
        """Raise UserError on a shape that cannot run; returns self."""
        for name in ("turns", "system_tokens", "user_tokens", "main_gen_tokens", "sub_prompt_tokens",
                     "sub_gen_tokens"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"agents: {name} must be at least 1, got {getattr(self, name)}")
        for name in ("subagents", "tasks_per_turn", "sub_system_tokens", "warmup"):
            if int(getattr(self, name)) < 0:
                raise UserError(f"agents: {name} must not be negative, got {getattr(self, name)}")
        if self.tasks_per_turn and not self.subagents:
            raise UserError("agents: tasks_per_turn > 0 needs subagents >= 1")
        bad = [m for m in self.prefix_cache if m not in MODES]
        if bad or not self.prefix_cache:
            raise UserError(f"agents: prefix_cache takes on and/or off, got {list(self.prefix_cache)}")
        if self.dispatch not in DISPATCH:
            from tokbench.errors import unknown

            raise unknown("dispatch mode", self.dispatch, DISPATCH)
        return self

    def main_prompt_tokens(self, turn: int) -> int:
        """Planned prompt tokens of main turn ``turn`` (1-based)."""
        return self.system_tokens + (turn - 1) * (self.user_tokens + self.main_gen_tokens) + self.user_tokens

    def main_context(self) -> int:
        """Tokens the main agent's sequence reaches (last prompt + its answer)."""
        return self.main_prompt_tokens(self.turns) + self.main_gen_tokens

    def sub_context(self) -> int:
        """Tokens one sub-agent sequence reaches."""
        return self.sub_system_tokens + self.sub_prompt_tokens + self.sub_gen_tokens

    def in_flight(self, phase: str) -> int:
        """Most requests the phase has in flight at once."""
        if phase == "alone":
            return 1
        subs = min(self.subagents, self.tasks_per_turn)
        return subs + (1 if self.dispatch == "with" else 0) if subs else 1

    def to_dict(self) -> dict:
        """Plain dict (for the run config)."""
        d = asdict(self)
        d["prefix_cache"] = list(self.prefix_cache)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> AgentSpec:
        """Inverse of :meth:`to_dict` (unknown keys ignored)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})


def phase_key(phase: str, mode: str) -> str:
    """Point-metadata key of a phase (the task graph's turns, makespan): ``agents load cache=on``."""
    return f"agents {phase} cache={mode}"


def label(phase: str, mode: str, role: str, turn: int | None = None) -> str:
    """Point label of a phase's sub-agent tasks, or of one main turn (one context depth each).

    ``agents load cache=on sub``, ``agents load cache=on main t=3``.
    """
    return f"{phase_key(phase, mode)} {role}" + (f" t={turn}" if turn is not None else "")


# ---- prompts -------------------------------------------------------------------------------------
async def _part(engine: Engine, prefix: str, n_tokens: int, seed: int) -> tuple[str, int]:
    """Text that adds exactly ``n_tokens`` tokens after ``prefix`` (``prefix`` empty: a whole prompt)."""
    if not prefix:
        p = await exact_prompt(engine.count_tokens, n_tokens, seed)
        return p.text, p.n_tokens
    base = await engine.count_tokens(prefix)

    async def added(text: str) -> int:
        return await engine.count_tokens(prefix + SEP + text) - base

    p = await exact_prompt(added, n_tokens, seed)
    return prefix + SEP + p.text, base + p.n_tokens


@dataclass
class Session:
    """Prompts of one phase: the main turns and the sub-agent tasks of each turn."""

    main: list[Prompt]
    subs: list[list[Prompt]]
    reusable: list[int]  # tokens of each main prompt a prefix cache could hold from the turn before


async def main_prompts(engine: Engine, spec: AgentSpec, mode: str, seed: int) -> tuple[list[Prompt], list[int]]:
    """The main agent's prompts for every turn, growing by exact token counts.

    Cache on: one system prompt and one growing text, so turn t+1 starts with turn t's text.
    Cache off: the same history after a system prompt unique to each turn (distinct first tokens).
    """
    system, n_sys = await _part(engine, "", spec.system_tokens, seed)
    texts, counts, text, n = [], [], system, n_sys
    for t in range(spec.turns):
        if t:
            text, n = await _part(engine, text, spec.main_gen_tokens, seed + 2 * t)  # the stand-in answer
        text, n = await _part(engine, text, spec.user_tokens, seed + 2 * t + 1)
        texts.append(text)
        counts.append(n)
    if mode == "off":
        for t in range(spec.turns):
            unique, _ = await _part(engine, "", spec.system_tokens, seed + 1000 + t)
            texts[t] = unique + texts[t][len(system):]
            counts[t] = await engine.count_tokens(texts[t])  # the truth, whatever the join did
        reusable = [1] * spec.turns  # BOS at most
    else:
        reusable = [0] + counts[:-1]
    return [Prompt(n_tokens=c, text=s) for s, c in zip(texts, counts)], reusable


async def sub_prompts(engine: Engine, spec: AgentSpec, mode: str, seed: int) -> list[list[Prompt]]:
    """Each turn's sub-agent task prompts (shared sub system prompt when on and sized)."""
    shared = None
    if spec.sub_system_tokens and mode == "on":
        shared = await _part(engine, "", spec.sub_system_tokens, seed + 7)
    out = []
    for t in range(spec.turns):
        row = []
        for k in range(spec.tasks_per_turn):
            s = seed + 10_000 + 100 * t + k
            if spec.sub_system_tokens:
                head = shared or await _part(engine, "", spec.sub_system_tokens, s + 50_000)
                text, n = await _part(engine, head[0], spec.sub_prompt_tokens, s)
            else:
                text, n = await _part(engine, "", spec.sub_prompt_tokens, s)
            row.append(Prompt(n_tokens=n, text=text))
        out.append(row)
    return out


# ---- running (on the one scheduler) ----------------------------------------------------------------
RecordSink = Callable[[RequestRecord], None]


@dataclass
class AgentResult:
    """Every record (warm-up included) and the metadata of each point label."""

    records: list[RequestRecord] = field(default_factory=list)
    meta: dict[str, dict] = field(default_factory=dict)
    interrupted: bool = False


class AgentRunner:
    """Runs an :class:`AgentSpec` against a main engine and a sub-agent engine (may be the same),
    through the scheduler's request primitive and cancellation (``sched``: made here when None)."""

    def __init__(self, main: Engine, sub: Engine, spec: AgentSpec, on_record: RecordSink | None = None,
                 stop: asyncio.Event | None = None, index_start: int = 0, sched: Scheduler | None = None):
        self.main, self.sub, self.spec = main, sub, spec.validate()
        self.sched = sched or Scheduler(main, on_record, stop, index_start)
        self.stop = self.sched.stop
        self.out = AgentResult()

    async def run(self) -> AgentResult:
        """Warm up, then for each prefix-cache mode: the main session alone, then the task graph."""
        spec = self.spec
        try:
            await self._warmup()
            for m, mode in enumerate(spec.prefix_cache):
                phases = (["alone"] if spec.baseline else []) + ["load"]
                for p, phase in enumerate(phases):
                    if self.stop.is_set():
                        break
                    seed = spec.seed * 1_000_003 + 100_000 * (2 * m + p + 1)  # fresh prompts per phase
                    main, reusable = await until_stopped(self.stop, main_prompts(self.main, spec, mode, seed))
                    subs = await until_stopped(self.stop, sub_prompts(self.sub, spec, mode, seed)) if phase == "load" else []
                    await self._phase(phase, mode, Session(main, subs, reusable))
        except Stopped:
            pass
        self.out.interrupted = self.stop.is_set()
        return self.out

    async def _warmup(self) -> None:
        engines = [("main", self.main)] + ([("sub", self.sub)] if self.sub is not self.main else [])
        for role, eng in engines:
            for i in range(self.spec.warmup):
                prompt = await until_stopped(self.stop, eng.make_prompt(min(64, self.spec.sub_prompt_tokens), 900_000 + i))
                await self._one(eng, prompt, 8, "agents warmup", role, 1, False, warmup=True)

    async def _phase(self, phase: str, mode: str, s: Session) -> None:
        spec, cache = self.spec, mode == "on"
        width = spec.in_flight(phase)
        gate = asyncio.Semaphore(max(1, spec.subagents))
        turns: list[dict] = []
        lag = LagMonitor()
        lag.start()
        gc_on = gc.isenabled()
        gc.disable()  # no collector pauses while timing (as a sweep point has)
        t0 = clock()
        try:
            for t, prompt in enumerate(s.main):
                if self.stop.is_set():
                    break
                turn = {"turn": t + 1, "t_start": clock(), "prompt_tokens": prompt.n_tokens,
                        "reusable_prefix_tokens": s.reusable[t], "sub_indices": []}
                point = label(phase, mode, "main", t + 1)
                main = self._one(self.main, prompt, spec.main_gen_tokens, point, "main", width, cache,
                                 depth=spec.main_prompt_tokens(t + 1))
                self.out.meta[point] = {"kind": "agents", "phase": phase, "prefix_cache": mode, "role": "main",
                                        "turn": t + 1}
                todo = s.subs[t] if s.subs else []
                tasks = [self._sub(gate, p, label(phase, mode, "sub"), width, cache) for p in todo]
                if spec.dispatch == "with":
                    recs = await self.sched.gather([main, *tasks])
                else:
                    recs = await self.sched.gather([main]) + await self.sched.gather(tasks)
                turn["main_index"] = recs[0].index if recs and recs[0].role == "main" else None
                turn["sub_indices"] = [r.index for r in recs if r.role == "sub"]
                turn["t_end"] = clock()
                turns.append(turn)
        finally:
            if gc_on:
                gc.enable()
        wall = clock() - t0
        stats = await lag.stop()
        meta = {"kind": "agents-phase", "phase": phase, "prefix_cache": mode, "dispatch": spec.dispatch,
                "in_flight": width, "makespan_s": wall, "turns": turns, "loop_lag": stats.to_dict(),
                "done": not self.stop.is_set()}
        self.out.meta[phase_key(phase, mode)] = meta
        if phase == "load" and spec.tasks_per_turn:
            self.out.meta[label(phase, mode, "sub")] = {"kind": "agents", "phase": phase, "prefix_cache": mode,
                                                        "role": "sub"}

    async def _sub(self, gate: asyncio.Semaphore, prompt: Prompt, point: str, width: int, cache: bool):
        async with gate:
            depth = self.spec.sub_system_tokens + self.spec.sub_prompt_tokens
            return await self._one(self.sub, prompt, self.spec.sub_gen_tokens, point, "sub", width, cache, depth=depth)

    async def _one(self, engine: Engine, prompt: Prompt, gen: int, point: str, role: str, width: int,
                   cache: bool, warmup: bool = False, depth: int | None = None) -> RequestRecord:
        """One request through the scheduler. ``context_depth`` is the planned depth (constant per
        point label, as a sweep point's is); ``prompt_tokens`` what the engine counted for the prompt sent."""
        depth = prompt.n_tokens if depth is None else depth
        shape = Shape(point, width, depth, gen, True, cache, self.spec.api, self.spec.timeout_s, role)
        return await self.sched.request(engine, prompt, shape, warmup, self.out.records)
