"""Speed-model parameters (model v4) resolved for one hardware x engine, with how much they rest on.

``data/speed_params.json`` is written by ``scripts/fit_speed.py`` from every measured and published
row (``data/published_measurements.csv`` and the campaigns under ``data/``). Its parameters belong to
what they describe, never to one machine:

- ``mem``: the share of the nominal bandwidth a streaming kernel reaches, per memory technology
  (HBM, GDDR, Apple unified LPDDR, other unified LPDDR, CPU DDR);
- per backend (``llama.cpp/cuda``, ``llama.cpp/metal``, ``llama.cpp/cpu``, ``mlx/metal``...): the
  kernel-throughput roof per storage type (``rho``: weights per compute unit per cycle, a class value
  times a type factor times a chip-generation factor), the cost per graph node (times a generation
  factor), the KV-read efficiency, the batched-column growth ``kappa`` and prefill efficiencies;
- ``server``: llama-server's per-token CPU work (the CPU's, not the accelerator's);
- ``bands``: log-residual quantiles of leave-one-machine-out predictions, by how much the fit knows
  about the machine: ``chip`` (this chip has rows: leave-one-model-out residuals), ``generation``
  (other chips of its generation have rows) or ``extrapolated`` (none of its generation).

A plan says which of the three it is ("fitted on this chip", "same generation", "extrapolated").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

# Models that appear only in the calibration set (not in the user-facing catalog), as config.json
# facts. llama-2-7b: meta-llama/Llama-2-7b-hf config.json; qwen3-4b: Qwen/Qwen3-4B config.json;
# synthetic-llama-3b: the random-weight model measured on this workplace's H100 (28 layers, 3072
# hidden, 8192 FFN, 32000 vocab; 24 query / 8 KV heads reproduce its 3.02B parameters).
CALIBRATION_MODELS: dict[str, dict] = {
    "llama-2-7b": {"model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
                   "num_key_value_heads": 32, "intermediate_size": 11008, "vocab_size": 32000},
    "qwen3-4b": {"model_type": "qwen3", "num_hidden_layers": 36, "hidden_size": 2560, "num_attention_heads": 32,
                 "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 9728, "vocab_size": 151936,
                 "tie_word_embeddings": True},
    "synthetic-llama-3b": {"model_type": "llama", "num_hidden_layers": 28, "hidden_size": 3072, "num_attention_heads": 24,
                           "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 8192, "vocab_size": 32000},
}

LEVELS = ("chip", "generation", "extrapolated")
LEVEL_TEXT = {"chip": "fitted on this chip", "generation": "same generation", "extrapolated": "extrapolated",
              # not a fit level: the fit's parameters rescaled to this host's timed kernels (tokbench.plan.host)
              "host": "calibrated on this host"}
DEVICE = {"nvidia": "cuda", "apple": "metal", "amd": "amd", "cpu": "cpu"}
# A backend without its own fit borrows one with the same kernels or the nearest physics (stated, and
# always at the "extrapolated" level): vLLM/SGLang run their own CUDA kernels; llama.cpp on AMD runs
# HIP/Vulkan ports of the CUDA kernels.
BORROW = {"vllm/cuda": "llama.cpp/cuda", "sglang/cuda": "llama.cpp/cuda", "llama.cpp/amd": "llama.cpp/cuda",
          "vllm/amd": "llama.cpp/cuda", "sglang/amd": "llama.cpp/cuda", "mlx/cpu": "llama.cpp/cpu"}


@dataclass(frozen=True)
class KernelParams:
    """Every parameter :mod:`tokbench.plan.speed` needs for one hardware x engine, and its standing."""

    backend: str  # e.g. llama.cpp/cuda
    engine: str
    generation: str
    level: str  # chip | generation | extrapolated
    basis: str
    eta_mem: float
    eta_kv: float
    p: float
    kappa: float
    node_s: float  # per graph node that is not a matrix kernel
    row_s: dict  # kernel class -> a matrix kernel's last wave: seconds per weight of one row
    rho_att: float = 64.0  # attention kernels' throughput roof: FLOPs per unit per cycle (times rho_gen)
    bw_core: float | None = None  # CPUs: bytes/s one core can stream (caps the memory roof at few threads)
    bw_probe: float | None = None  # probed CPU hosts: what one llama.cpp thread streams per byte/s of the probe's one-core read
    cache_frac: float | None = None  # CPUs: a cache-resident weight's read time against one from memory
    att_row: float = 0.0  # CPUs: cycles of decode attention per KV head x cached token (0: not a term)
    state_c: float = 0.0  # CPUs: cycles per byte of Gated DeltaNet state updated per token (0: not a term)
    rho_class: dict = field(default_factory=dict, compare=False)  # kernel class -> weights / (unit * cycle)
    rho_type: dict = field(default_factory=dict, compare=False)  # ggml type -> factor on its class
    rho_gen: float = 1.0  # this generation's factor
    prefill: dict = field(default_factory=dict, compare=False)  # FLOP kind -> share of the FP16 peak
    mmq: dict = field(default_factory=dict, compare=False)  # kernel class -> batched (N > 8) work per weight
    srv_seq_s: float = 0.0
    srv_vocab_s: float = 0.0
    srv_save_bps: float | None = None
    batched_basis: str = ""  # what the batched-step terms (kappa, mmq) were fitted on, in words
    band_low: float = 0.7
    band_high: float = 1.4
    fitted: bool = True
    prefill_level: str = "extrapolated"  # what the prefill terms know of this machine (as ``level``)
    prefill_band: tuple = (0.5, 2.0)  # the prefill estimate's band, from held-out prefill rows at that level

    def rho(self, ggml_type: str) -> float:
        """Kernel-throughput roof of one storage type on this generation (weights per unit per cycle)."""
        from tokbench.plan.memory import kernel_class

        cls = kernel_class(ggml_type)
        base = self.rho_class.get(cls) or max(self.rho_class.values(), default=1.0)
        ty = ggml_type.upper()
        # CPU kernels are written per instruction set: a type's factor is a part shared by every ISA
        # times the ISA's own ("generation/type"; absent on GPU backends).
        factor = self.rho_type.get(ty, 1.0) * self.rho_type.get(f"{self.generation}/{ty}", 1.0)
        return base * factor * self.rho_gen

    def row_tail(self, ggml_type: str) -> float:
        """Seconds per weight of one row of a matrix kernel's last wave, for this storage type's class."""
        from tokbench.plan.memory import kernel_class

        return self.row_s.get(kernel_class(ggml_type)) or max(self.row_s.values(), default=0.0)

    @property
    def level_text(self) -> str:
        """What the estimate rests on, in words users read in the plan."""
        return LEVEL_TEXT[self.level]


def bands_for(doc: dict, backend: str) -> dict:
    """The band table a backend's estimates take: CPUs have their own (their held-out rows miss by more)."""
    return doc.get("bands_cpu", doc["bands"]) if backend.endswith("/cpu") else doc["bands"]


@lru_cache(maxsize=1)
def speed_params() -> dict:
    """The fitted parameter document (``data/speed_params.json``)."""
    return json.loads(resources.files("tokbench.catalog").joinpath("data/speed_params.json").read_text())


def backend_of(engine: str) -> str:
    """Kernel family of ``engine`` from the engine table (ollama and llama.cpp-server run llama.cpp's)."""
    from tokbench.catalog.engines import ENGINES

    e = ENGINES.get(engine)
    return e.backend if e is not None and e.backend != "unknown" else engine


def is_server_engine(engine: str) -> bool:
    """True when every token goes through llama-server's per-slot loop (its fitted per-token CPU cost)."""
    from tokbench.catalog.engines import ENGINES

    e = ENGINES.get(engine)
    return bool(e and e.llama_server_loop)


def backend_key(hw, engine: str) -> str:
    """``kernels/device`` of ``engine`` on ``hw``: llama.cpp/cuda, llama.cpp/metal, mlx/metal, llama.cpp/cpu..."""
    return f"{backend_of(engine)}/{DEVICE.get(hw.kind, 'cpu')}"


def _mem_share(doc: dict, group: str) -> float:
    """Achievable share of the nominal bandwidth for a memory technology; the geometric mean of the
    fitted technologies where this one has no rows."""
    mem = doc["mem"]
    if group in mem:
        return mem[group]
    vals = list(mem.values())
    prod = 1.0
    for v in vals:
        prod *= v
    return prod ** (1 / len(vals)) if vals else 0.8


def get_calibration(hw, engine: str, doc: dict | None = None, flash_attn: bool = True) -> KernelParams:
    """Parameters for ``hw`` x ``engine`` from the fitted document (``doc`` overrides it: the holdout
    refits pass their own), with the level of knowledge they rest on and that level's band.
    ``flash_attn=False``: decode attention as the unfused kernels run it (a measured row that ran so; the
    planner predicts today's default, on)."""
    doc = doc or speed_params()
    key = backend_key(hw, engine)
    borrowed = key not in doc["backends"]
    use = BORROW.get(key, "llama.cpp/cuda") if borrowed else key
    if use not in doc["backends"]:
        use = next(iter(doc["backends"]))
    b = doc["backends"][use]
    gen = hw.generation or hw.id

    def known(machines, generations) -> str:  # what the fitted terms knew of this machine
        if borrowed:
            return "extrapolated"
        return "chip" if hw.id in machines else "generation" if gen in generations else "extrapolated"

    level = known(b.get("fitted_hardware", ()), b.get("rho_gen", {}))
    lo, hi = bands_for(doc, use)[level]
    basis = f"{use} fit on {len(b.get('fitted_hardware', ()))} machines ({b.get('n_rows', 0)} rows); {LEVEL_TEXT[level]}"
    if borrowed:
        basis = f"no {key} data: {use}'s parameters ({basis})"
        lo, hi = lo * doc.get("borrow_widen", [0.85, 1.15])[0], hi * doc.get("borrow_widen", [0.85, 1.15])[1]
    pre_level = known(b.get("prefill_hardware", ()), b.get("prefill_gen", {}))
    pre_bands = doc.get("bands_prefill_cpu" if use.endswith("/cpu") else "bands_prefill", {})
    pre_band = tuple(pre_bands.get(pre_level, (0.5, 2.0)))
    srv = doc.get("server", {}).get(backend_of(engine), {}) if is_server_engine(engine) else {}
    node_gen = b.get("node_gen", {}).get(gen, 1.0)
    # flash attention's throughput, or the unfused kernels' (asked for, or the only term of a backend whose rows
    # all ran without it; CPUs have one term for both)
    fused, unfused = b.get("rho_att"), b.get("rho_att_nofa")
    # batched-step terms of this chip generation where it has its own (calibrate.serving_fit), else the backend's
    batched = b.get("batched_gen", {}).get(gen, b)
    if batched is not b:
        batched_basis = f"fitted on {gen}'s {batched.get('batched_rows', 0)} measured batched steps"
    elif b.get("batched_rows"):
        batched_basis = f"{use}'s fit on {b['batched_rows']} measured batched steps, none of {gen}"
    else:
        batched_basis = "priors: no batched step measured on this backend"
    return KernelParams(
        backend=use, engine=engine, generation=gen, level=level, basis=basis,
        eta_mem=_mem_share(doc, hw.memory_group), eta_kv=b["eta_kv"], p=doc["p"],
        kappa=batched["kappa"], node_s=b["node_s"] * node_gen, row_s={c: v * node_gen for c, v in b["row_s"].items()},
        rho_att=(unfused or fused) if not flash_attn else (fused or unfused or 64.0),
        bw_core=b.get("bw_core"), bw_probe=b.get("bw_probe"), cache_frac=b.get("cache_frac"), att_row=b.get("att_row", 0.0),
        state_c=b.get("state_c", 0.0),
        rho_class=b["rho_class"], rho_type=b.get("rho_type", {}), rho_gen=b.get("rho_gen", {}).get(gen, 1.0),
        prefill={k: v * b.get("prefill_gen", {}).get(gen, 1.0) for k, v in b["prefill"].items()},
        mmq=batched.get("mmq", {}),
        srv_seq_s=srv.get("seq_s", 0.0), srv_vocab_s=srv.get("vocab_s", 0.0), srv_save_bps=srv.get("save_bps"),
        batched_basis=batched_basis, band_low=lo, band_high=hi, fitted=not borrowed, prefill_level=pre_level,
        prefill_band=pre_band,
    )
