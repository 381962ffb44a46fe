"""The run identity: what a measurement is of, stored with every run (measured or imported) under
``config["identity"]``; reports and ``tokbench validate`` read it and never guess. Built by
tokbench.bench.identity for measured runs and tokbench.store.importers for imported ones.

``engine`` is the planner's engine name from the one engine table (tokbench.catalog.engines): for
a generic endpoint, the server tokbench detected (llama-server -> llama.cpp-server, vLLM -> vllm),
else ``openai`` (which the planner does not estimate). ``bench_engine`` is what ``tokbench bench``
drove. ``topology`` is a small typed value: one machine as it comes, or (tokbench.bench.layout) a
llama.cpp RPC or multi-GPU layout tokbench launched, or what an endpoint spans as the user stated it:
``nodes``, ``gpus``, ``split`` (pipeline | tensor | expert), ``link``, ``hardware`` and ``detail``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Topology:
    """How the model is laid out over devices and machines."""

    nodes: int = 1
    gpus: int | None = None  # GPUs serving the model (0: CPU only; None: not known, e.g. an endpoint)
    split: str | None = None  # pipeline | tensor | expert, when over several devices
    link: str | None = None  # interconnect between devices or nodes (link catalog id)
    hardware: str | None = None  # the cluster as `tokbench plan --hardware` spells it (stated for an endpoint)
    detail: str | None = None  # how it was laid out: "llama.cpp RPC: 1 rpc-server(s) on loopback ...", "-sm tensor"

    @property
    def label(self) -> str:
        """One line for reports: "" for one machine as it comes, else nodes/GPUs, split and link."""
        if self.nodes <= 1 and not self.split and not self.detail:
            return ""
        head = self.hardware or (f"{self.nodes} nodes" if self.nodes > 1 else f"{self.gpus} GPU(s)")
        rest = [x for x in (self.split and f"{self.split} split", self.link and f"over {self.link}") if x]
        return ", ".join([head, *rest]) + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class RunIdentity:
    """Model, quant, hardware, engine and version, topology of one run."""

    model_id: str | None
    quant: str | None
    hardware_id: str | None
    engine: str | None  # planner engine (catalog name)
    engine_version: str = ""
    bench_engine: str | None = None
    server: str | None = None  # the server tokbench talked to (detected flavor), None in process
    model_label: str | None = None
    hardware_label: str | None = None  # what the hardware is when it has no catalog id (this host's CPU)
    topology: Topology = field(default_factory=Topology)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (stored in the run config)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunIdentity:
        """Inverse of :meth:`to_dict` (unknown keys ignored)."""
        names = set(cls.__dataclass_fields__)
        topo = Topology(**{k: v for k, v in (d.get("topology") or {}).items() if k in Topology.__dataclass_fields__})
        return cls(**{**{k: v for k, v in d.items() if k in names and k != "topology"}, "topology": topo})


def file_quant(path: Path | None) -> str | None:
    """A GGUF file's own quant type (Q4_K_M ...), None when not a readable GGUF."""
    if path is None or path.suffix != ".gguf" or not path.is_file():
        return None
    try:
        from tokbench.modelspec.gguf_header import spec_from_gguf

        return spec_from_gguf(path).file_type
    except Exception:  # noqa: BLE001 - a file we cannot read simply has no recorded quant
        return None


def host_topology(host: dict | None) -> Topology:
    """One machine: its NVIDIA GPUs, 1 for Apple silicon (one unified GPU), else 0 (CPU)."""
    host = host or {}
    if host.get("nvidia"):
        return Topology(gpus=len(host["nvidia"]))
    if host.get("apple"):
        return Topology(gpus=1)
    return Topology(gpus=0)




def quant_from_text(text: str | None) -> str | None:
    """A quant preset from a tool's description of a GGUF type (llama-bench's ``model_type`` ends
    with ``Q4_K - Medium``, ``Q8_0``, ``F16`` ...), None when it names none tokbench knows."""
    import re

    if not text:
        return None
    m = re.search(r"((?:I?Q\d\w*|B?F\d+)(?: - (Small|Medium|Large|Extra Small))?)\s*$", text.strip())
    if not m:
        return None
    name = m.group(1).split(" - ")[0] + ({"Small": "_S", "Medium": "_M", "Large": "_L", "Extra Small": "_XS"}
                                          .get(m.group(2) or "", ""))
    from tokbench.errors import UserError
    from tokbench.quant.presets import parse_quant

    try:
        return parse_quant(name)
    except UserError:
        return None
