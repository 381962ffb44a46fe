"""The one engine table: every engine name a user can type, and what each means to bench and plan.

Bench, plan, report and validate all read this table; nothing else maps engine names. Each entry
says which kernels run (``backend``: whose calibration the planner uses), whether every token goes
through an HTTP server's sampling and streaming loop (``server``: a per-token CPU cost in the
planner), how ``tokbench bench`` drives it (``bench``: an in-process engine, a server tokbench starts
itself, or an endpoint the user runs), which hardware kinds it runs on and which weight formats it
loads (so ``plan`` can refuse a combination no engine runs).
"""

from __future__ import annotations

from dataclasses import dataclass

from tokbench.errors import UserError, unknown

IN_PROCESS, LAUNCHED, ENDPOINT, PLAN_ONLY = "in-process", "launched", "endpoint", "plan-only"


@dataclass(frozen=True)
class Engine:
    """One engine as users name it."""

    name: str
    backend: str  # whose kernels run: llama.cpp | mlx | vllm | sglang
    server: bool  # tokens go through an HTTP server loop (per-token CPU cost in the planner)
    bench: str  # IN_PROCESS | LAUNCHED | ENDPOINT | PLAN_ONLY
    runs_on: tuple[str, ...]  # hardware kinds (tokbench.catalog.hardware.Hardware.kind)
    formats: tuple[str, ...]  # weight formats it loads: gguf | mlx | hf (safetensors)
    factory: str | None = None  # "module:callable" of the bench engine (None: not benchable itself)
    notes: str = ""
    # How it spreads one model over several GPUs or machines (tokbench.plan.cluster): pipeline (layer
    # ranges per node), tensor (every matrix split, two all-reduces per layer), expert (experts split).
    splits: tuple[str, ...] = ()
    pipelined: bool = False  # a pipeline split overlaps requests across stages (else stages run in turn)
    streams: int | None = None  # requests it serves at once in tokbench bench (None: as many as asked)

    @property
    def endpoint_only(self) -> bool:
        """Benchmarked only through ``--endpoint`` (a server the user runs)."""
        return self.bench == ENDPOINT

    @property
    def llama_server_loop(self) -> bool:
        """Tokens go through llama-server's per-slot sampling and streaming loop (its fitted CPU cost)."""
        return self.server and self.backend == "llama.cpp"


_ALL = ("apple", "nvidia", "amd", "cpu")
_HTTP = "tokbench.engines.openai_http:OpenAIEngine"  # every endpoint engine is driven over OpenAI-compatible HTTP
ENGINES: dict[str, Engine] = {e.name: e for e in (
    Engine("llama.cpp", "llama.cpp", False, IN_PROCESS, _ALL, ("gguf",), "tokbench.engines.llamacpp:LlamaCppEngine",
           notes="llama.cpp in process (llama-cpp-python; llama-bench's figures)",
           splits=("pipeline", "tensor")),  # -sm layer / RPC servers; -sm tensor (GPUs of one machine)
    Engine("llama.cpp-server", "llama.cpp", True, LAUNCHED, _ALL, ("gguf",),
           "tokbench.engines.servers:LlamaCppServerEngine",
           notes="llama.cpp behind llama-server's HTTP loop (tokbench starts llama_cpp.server; --rpc N adds loopback "
                 "rpc-servers, --split-mode layer|row|tensor splits over this machine's GPUs; row split is refused "
                 "on CUDA by llama-cpp-python 0.3.36's llama.cpp: \"device CUDA0 does not support split buffers\", "
                 "use tensor)",
           splits=("pipeline", "tensor")),
    Engine("ollama", "llama.cpp", True, ENDPOINT, _ALL, ("gguf",), _HTTP,
           notes="llama.cpp behind Ollama's server"),
    Engine("lm-studio", "llama.cpp", True, ENDPOINT, _ALL, ("gguf",), _HTTP,
           notes="llama.cpp behind LM Studio's server (its MLX runtime: use mlx)"),
    Engine("mlx", "mlx", False, IN_PROCESS, ("apple", "cpu"), ("mlx",), "tokbench.engines.mlx:MlxEngine",
           notes="mlx-lm in process (Metal on Apple silicon; the CPU backend elsewhere); mlx.launch shards it",
           splits=("tensor", "pipeline"), streams=1),
    Engine("mlx-server", "mlx", True, LAUNCHED, ("apple", "cpu"), ("mlx",), "tokbench.engines.servers:MlxServerEngine",
           notes="mlx_lm.server (tokbench starts it)"),
    Engine("vllm-mlx", "mlx", True, ENDPOINT, ("apple",), ("mlx",), _HTTP,
           notes="vllm-mlx: continuous batching on MLX"),
    Engine("vllm", "vllm", True, ENDPOINT, ("nvidia", "amd"), ("hf", "gguf"), _HTTP,
           notes="vLLM (CUDA/ROCm); GGUF support is experimental", splits=("pipeline", "tensor", "expert"),
           pipelined=True),
    Engine("sglang", "sglang", True, ENDPOINT, ("nvidia", "amd"), ("hf",), _HTTP, notes="SGLang (CUDA/ROCm)",
           splits=("tensor", "expert"), pipelined=True),
    Engine("exo", "mlx", True, ENDPOINT, ("apple",), ("mlx",), _HTTP,
           notes="exo: MLX on several Macs (pipeline over TCP, tensor over RDMA since macOS 26.2)",
           splits=("pipeline", "tensor")),
    Engine("openai", "unknown", True, ENDPOINT, _ALL, ("gguf", "mlx", "hf"), _HTTP,
           notes="any OpenAI-compatible endpoint; the server it detects names the planner engine"),
)}

ALIASES = {"llamacpp": "llama.cpp", "llama-cpp": "llama.cpp", "llama_cpp": "llama.cpp", "llama-bench": "llama.cpp",
           "llama-server": "llama.cpp-server", "llamacpp-server": "llama.cpp-server",
           "llama-cpp-server": "llama.cpp-server", "lmstudio": "lm-studio", "lm_studio": "lm-studio",
           "mlx-lm": "mlx", "mlx_lm": "mlx", "mlx_lm.server": "mlx-server", "mlx-lm-server": "mlx-server",
           "vllm_mlx": "vllm-mlx"}

# What a detected server flavour (tokbench.engines.openai_http) means for the planner.
FLAVOR_ENGINE = {"llama-server": "llama.cpp-server", "llama-cpp-python": "llama.cpp-server", "ollama": "ollama",
                 "mlx_lm.server": "mlx-server", "vllm": "vllm", "sglang": "sglang", "lm-studio": "lm-studio"}


def get_engine(name: str) -> Engine:
    """The engine a user named (aliases accepted); UserError with close matches otherwise."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in ENGINES:
        raise unknown("engine", name, list(ENGINES))
    return ENGINES[key]


def plan_engines() -> list[str]:
    """Engine names ``tokbench plan --engine`` accepts (every engine but the generic endpoint)."""
    return [n for n in ENGINES if n != "openai"]


def bench_engines() -> list[str]:
    """Engine names ``tokbench bench --engine`` drives itself (in process or launched) or as an endpoint."""
    return [n for n, e in ENGINES.items() if e.factory]


def get_bench_engine(name: str) -> Engine:
    """The engine ``tokbench bench --engine`` was given (aliases accepted; UserError with close matches)."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in ENGINES or not ENGINES[key].factory:
        raise unknown("engine", name, bench_engines())
    return ENGINES[key]


def planner_engine(name: str, flavor: str | None = None) -> str | None:
    """The planner's engine for a bench engine; for the generic endpoint, the server it detected
    (``flavor`` as tokbench.engines.openai_http names it), None when that says nothing."""
    e = ENGINES.get(name)
    if e is None:
        return None
    if e.backend != "unknown":
        return e.name
    return FLAVOR_ENGINE.get(flavor or "")


def engine_of_row(engine_id: str, text: str = "") -> str:
    """The engine a published row was measured with: its ``engine_id``, made precise when its
    description names a server of the same backend (``llama.cpp CUDA (llama-server -np 8)`` ->
    llama.cpp-server)."""
    base = ENGINES.get(engine_id)
    low = (text or "").lower()
    for alias, name in ALIASES.items():
        e = ENGINES[name]
        if e.server and base is not None and e.backend == base.backend and alias in low:
            return name
    return engine_id


def register(engine: Engine) -> None:
    """Add an engine (a third-party bench engine with its ``factory``) to the one table."""
    ENGINES[engine.name] = engine


def check_runs(engine: Engine, hw_kind: str | None, weight_format: str | None) -> None:
    """UserError when ``engine`` does not run on hardware of ``hw_kind`` or load ``weight_format``."""
    if hw_kind and hw_kind not in engine.runs_on:
        where = ", ".join(engine.runs_on)
        raise UserError(f"{engine.name} does not run on {hw_kind} hardware (it runs on: {where})")
    if weight_format and weight_format not in engine.formats:
        others = [n for n, e in ENGINES.items() if weight_format in e.formats and n != "openai"]
        raise UserError(f"{engine.name} does not load {weight_format} weights; engines that do: {', '.join(others)}")
