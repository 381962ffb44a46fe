"""Speed-model calibration: (eta, t0) per hardware family x engine, fitted from published measurements.

``data/calibration.csv`` is written by ``scripts/fit_calibration.py`` from
``data/published_measurements.csv``; each row says how many measurements it rests on and which.
Where no row exists the planner uses :data:`DEFAULTS` (stated as such in its output), and for
engines that share a backend it borrows the backend's row (ollama runs llama.cpp).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
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


@dataclass(frozen=True)
class Calibration:
    """Parameters of t_token = bytes / (eta * bandwidth) + t0, and the prefill efficiency.

    ``band_low``/``band_high`` multiply the estimated tok/s to give its range (from the fit's
    residuals, or a stated default width).
    """

    family: str
    engine: str
    eta: float
    t0_s: float
    band_low: float
    band_high: float
    prefill_eff: float
    n_decode: int = 0
    n_prefill: int = 0
    basis: str = ""

    @property
    def fitted(self) -> bool:
        """True when measurements back this row (not a default)."""
        return self.n_decode > 0


# Used where no measurement exists: mid-range of what measured engines reach (30-85% of the
# bandwidth ceiling, 1-4 ms fixed per token), with a wide band to say so.
DEFAULTS: dict[str, Calibration] = {
    "apple": Calibration("apple", "*", 0.65, 0.002, 0.65, 1.3, 0.6, basis="default: no measurements"),
    "nvidia": Calibration("nvidia", "*", 0.7, 0.0015, 0.65, 1.3, 0.3, basis="default: no measurements"),
    "nvidia-unified": Calibration("nvidia-unified", "*", 0.75, 0.002, 0.65, 1.3, 0.15, basis="default: no measurements"),
    "amd": Calibration("amd", "*", 0.6, 0.003, 0.6, 1.3, 0.3, basis="default: no measurements"),
    "cpu": Calibration("cpu", "*", 0.5, 0.003, 0.5, 1.4, 0.3, basis="default: no measurements"),
}
# Engines that run another engine's kernels: use that engine's calibration.
BACKEND = {"ollama": "llama.cpp"}
# Engines without their own data on a family borrow this one's (stated in the basis).
BORROW = {"vllm": "llama.cpp", "sglang": "llama.cpp", "mlx": "llama.cpp"}


def family(hw) -> str:
    """Calibration family of a catalog Hardware: apple, nvidia, nvidia-unified (DGX Spark), amd, cpu."""
    if hw.kind == "nvidia" and hw.unified_memory:
        return "nvidia-unified"
    return hw.kind if hw.kind in DEFAULTS else "cpu"


@lru_cache(maxsize=1)
def calibration_rows() -> dict[tuple[str, str], Calibration]:
    """Fitted rows by (family, engine), read from ``data/calibration.csv`` (empty if not fitted yet)."""
    try:
        text = resources.files("tokbench.catalog").joinpath("data/calibration.csv").read_text()
    except FileNotFoundError:
        return {}
    out = {}
    for r in csv.DictReader(text.splitlines()):
        out[(r["family"], r["engine"])] = Calibration(
            family=r["family"], engine=r["engine"], eta=float(r["eta"]), t0_s=float(r["t0_ms"]) / 1000,
            band_low=float(r["band_low"]), band_high=float(r["band_high"]),
            prefill_eff=float(r["prefill_eff"]), n_decode=int(r["n_decode"]), n_prefill=int(r["n_prefill"]),
            basis=r["basis"],
        )
    return out


def get_calibration(hw, engine: str) -> Calibration:
    """Calibration for ``hw`` x ``engine``: the machine's own fitted row, its family's, the backend's or a
    borrowed row, else the default."""
    fam = family(hw)
    rows = calibration_rows()
    eng = BACKEND.get(engine, engine)
    if (hw.id, eng) in rows:  # fitted on this very machine: preferred over its family's row
        fam = hw.id
    if (fam, eng) in rows:
        cal = rows[(fam, eng)]
        return cal if eng == engine else replace(cal, engine=engine, basis=f"{engine} runs {eng}: {cal.basis}")
    other = BORROW.get(eng)
    if other and (fam, other) in rows:
        cal = rows[(fam, other)]
        # Borrowed: same physics, unmeasured engine; widen the band to say so.
        return replace(cal, engine=engine, band_low=cal.band_low * 0.85, band_high=cal.band_high * 1.15,
                       basis=f"no {engine} data on {fam}: borrowed {other} fit ({cal.basis})")
    return replace(DEFAULTS[fam], engine=engine)
