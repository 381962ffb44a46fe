"""Speed-model calibration: (eta, t0) per hardware family x engine, fitted from published measurements.

``data/calibration.csv`` is written by ``scripts/fit_calibration.py`` from
``data/published_measurements.csv``; each row says how many measurements it rests on and which.
Where no row exists the planner uses :data:`DEFAULTS` (stated as such in its output), and for
engines that share a backend it borrows the backend's row (ollama runs llama.cpp).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
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


KERNEL_CLASSES = ("float", "block", "kquant", "table", "mlx")  # tokbench.plan.memory.kernel_class


@dataclass(frozen=True)
class Calibration:
    """Parameters of the decode step time and the prefill rate (see :mod:`tokbench.plan.speed`).

    Decode: ``t = sum_class bytes_c / (eta_c * bw) + (KV + state) / (eta_kv * bw) + n_mat * c_mat
    + n_mat_id * c_id + n_linear * c_lin + t0``; at N sequences the weights are read at
    ``min(eta_c, eta_batch)`` (or, without ``eta_batch``, each extra sequence adds
    ``2 * active weights / (decode_batch_eff * FP16 peak)``); behind a server each sequence adds
    ``srv_seq + srv_vocab * vocab`` per step.
    A field left None falls back to ``eta`` (or ``prefill_eff``), a cost left 0 is not charged: a row
    fitted from one model family reduces to the one-factor model ``bytes / (eta * bw) + t0``.
    ``band_low``/``band_high`` multiply the estimated tok/s to give its range.
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
    eta_class: dict = field(default_factory=dict, compare=False)  # kernel class -> bandwidth efficiency
    eta_kv: float | None = None  # KV cache / recurrent state read by the attention kernels
    c_mat_s: float = 0.0  # fixed time per matrix-vector kernel (launch + tail of small matrices)
    c_id_s: float = 0.0  # fixed time per routed-expert (mul_mat_id) kernel
    c_lin_s: float = 0.0  # fixed time per linear-attention (Gated DeltaNet) layer's extra kernels
    decode_batch_eff: float | None = None  # per extra sequence: 2 x active weights at this share of FP16 peak
    prefill_eff_quant: float | None = None  # quantized matmuls (MMQ) vs float (cuBLAS) = prefill_eff
    prefill_eff_moe: float | None = None  # routed-expert matmuls (tokens split across experts)
    prefill_eff_attn: float | None = None  # attention / linear-attention FLOPs
    eta_batch: float | None = None  # weight-read efficiency of the batched (N > 1) decode kernels
    srv_seq_s: float = 0.0  # server: fixed CPU time per sequence per token (slot update, streaming)
    srv_vocab_s: float = 0.0  # server: CPU time per vocabulary entry per sequence per token (sampling)
    srv_save_bps: float | None = None  # server: bytes/s of saving a reused slot's KV to the prompt cache
    srv_basis: str = ""  # where the server terms come from

    @property
    def fitted(self) -> bool:
        """True when measurements back this row (not a default)."""
        return self.n_decode > 0

    def eta_for(self, kernel_class: str) -> float:
        """Bandwidth efficiency of one kernel class (the row's eta where the class was not fitted)."""
        return self.eta_class.get(kernel_class) or self.eta

    @property
    def kv_eta(self) -> float:
        """Bandwidth efficiency of the KV/state reads."""
        return self.eta_kv or self.eta


# Used where no measurement exists: mid-range of what measured engines reach (30-85% of the
# bandwidth ceiling, 1-4 ms fixed per token), with a wide band to say so.
DEFAULTS: dict[str, Calibration] = {
    "apple": Calibration("apple", "*", 0.65, 0.002, 0.65, 1.3, 0.6, basis="default: no measurements"),
    "nvidia": Calibration("nvidia", "*", 0.7, 0.0015, 0.65, 1.3, 0.3, basis="default: no measurements"),
    "nvidia-unified": Calibration("nvidia-unified", "*", 0.75, 0.002, 0.65, 1.3, 0.15, basis="default: no measurements"),
    "amd": Calibration("amd", "*", 0.6, 0.003, 0.6, 1.3, 0.3, basis="default: no measurements"),
    "cpu": Calibration("cpu", "*", 0.5, 0.003, 0.5, 1.4, 0.3, basis="default: no measurements"),
}


# Which kernels an engine runs and whether it runs behind a server: the one engine table.
def backend_of(engine: str) -> str:
    """Calibration engine of ``engine``: the kernels it runs (ollama and llama.cpp-server run llama.cpp's)."""
    from tokbench.catalog.engines import ENGINES

    e = ENGINES.get(engine)
    return e.backend if e is not None and e.backend != "unknown" else engine


def is_server_engine(engine: str) -> bool:
    """True when every token goes through llama-server's per-slot loop (its fitted per-token CPU cost)."""
    from tokbench.catalog.engines import ENGINES

    e = ENGINES.get(engine)
    return bool(e and e.llama_server_loop)


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
    return {(r["family"], r["engine"]): _row(r) for r in csv.DictReader(text.splitlines())}


def _opt(r: dict, key: str, scale: float = 1.0) -> float | None:
    v = (r.get(key) or "").strip()
    return float(v) * scale if v else None


def _row(r: dict) -> Calibration:
    classes = {c: _opt(r, f"eta_{c}") for c in KERNEL_CLASSES}
    return Calibration(
        family=r["family"], engine=r["engine"], eta=float(r["eta"]), t0_s=float(r["t0_ms"]) / 1000,
        band_low=float(r["band_low"]), band_high=float(r["band_high"]),
        prefill_eff=float(r["prefill_eff"]), n_decode=int(r["n_decode"]), n_prefill=int(r["n_prefill"]),
        basis=r["basis"], eta_class={c: v for c, v in classes.items() if v},
        eta_kv=_opt(r, "eta_kv"), c_mat_s=_opt(r, "c_mat_us", 1e-6) or 0.0, c_id_s=_opt(r, "c_id_us", 1e-6) or 0.0,
        c_lin_s=_opt(r, "c_lin_us", 1e-6) or 0.0, decode_batch_eff=_opt(r, "decode_batch_eff"),
        prefill_eff_quant=_opt(r, "prefill_eff_quant"), prefill_eff_moe=_opt(r, "prefill_eff_moe"),
        prefill_eff_attn=_opt(r, "prefill_eff_attn"), eta_batch=_opt(r, "eta_batch"),
        srv_seq_s=_opt(r, "srv_seq_us", 1e-6) or 0.0, srv_vocab_s=_opt(r, "srv_vocab_ns", 1e-9) or 0.0,
        srv_save_bps=_opt(r, "srv_save_gbs", 1e9),
        srv_basis=(f"server terms fitted on {r['family']}" if _opt(r, "srv_seq_us") or _opt(r, "srv_vocab_ns") else ""),
    )


# A machine's own calibration row (hardware id >= 6 decode rows) is fitted only from measurements
# taken here (one card, one llama.cpp build); other sources for that card feed its family's row.
MACHINE_SOURCE_PREFIX = "measured here"


def fit_role(role: str, source: str, machine_row: bool) -> str:
    """How a calibration-set row relates to the calibration that estimates it.

    ``holdout``: never fitted (the role column says so); ``fit``: in the fit of that calibration row
    (in-sample); ``check``: fitted only into another row (e.g. a published H100 figure from another
    build, estimated by the H100's own row fitted from this workplace's measurements).
    """
    if role == "holdout":
        return "holdout"
    if machine_row and not source.startswith(MACHINE_SOURCE_PREFIX):
        return "check"
    return "fit"


def get_calibration(hw, engine: str) -> Calibration:
    """Calibration for ``hw`` x ``engine``: the machine's own fitted row, its family's, the backend's or a
    borrowed row, else the default. A server engine on a row without server terms borrows them from a
    row that has them (the server's per-token work is CPU time, not the accelerator's)."""
    cal = _get_calibration(hw, engine)
    if is_server_engine(engine) and not (cal.srv_seq_s or cal.srv_vocab_s):
        donor = next((r for r in calibration_rows().values() if r.srv_seq_s or r.srv_vocab_s), None)
        if donor is not None:
            cal = replace(cal, srv_seq_s=donor.srv_seq_s, srv_vocab_s=donor.srv_vocab_s, srv_save_bps=donor.srv_save_bps,
                          srv_basis=f"server terms borrowed from the {donor.family} fit")
    return cal


def _get_calibration(hw, engine: str) -> Calibration:
    fam = family(hw)
    rows = calibration_rows()
    eng = backend_of(engine)
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
