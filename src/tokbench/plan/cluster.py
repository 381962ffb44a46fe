"""One model over several GPUs or machines: per-node memory, feasibility, and speed with the link's cost.

Splits (what the engines that cluster do; :mod:`tokbench.catalog.engines` says which engine runs which):

- **pipeline**: each node holds a contiguous range of layers, sized to its usable memory as llama.cpp
  (``-ts`` default, RPC servers), exo and vLLM size them. One token passes every stage in turn, so a
  single stream is never faster than on one node: it pays every stage plus one hop per boundary
  (the activations, ``hidden`` x 4 bytes per token, and the engine's round trips on the link).
  Prefill is pipelined: llama.cpp splits a batch (``n_batch`` 2048 tokens) into ubatches of 512 and
  keeps the stages busy on successive ubatches, so a batch of U ubatches costs the sum of the stages
  for the first and the slowest stage for each further one (one ubatch, e.g. pp512: no overlap).
  Over a network llama.cpp pipelines through RPC: the client sends each remote stage its activations
  and inputs and reads the logits back from the last stage (``vocab`` x 4 bytes per token), all at
  RPC's own payload rate (below) where the link is faster; the graph itself is reused between tokens
  (llama.cpp PR 15405), so it does not cross the link per token.
- **tensor**: every matrix (and every expert stack) is split over the nodes; each node reads 1/N of the
  weights, and each layer ends in two all-reduces (attention and FFN outputs). At batch 1 the
  all-reduces' fixed cost, not the link's bandwidth, decides whether it pays; what it does not divide
  is the graph: every node still runs every kernel of every layer (launches and kernel tails), so a
  small model or one with many graph nodes per byte (Gated DeltaNet, 512 experts) gains little.
  KV is split by KV head when the heads divide evenly. llama.cpp's tensor split is ``-sm tensor``
  (its meta backend, llama.cpp PR 19378: weights, experts and KV split; the all-reduce is a copy
  between the devices and a synchronization); its older ``-sm row`` is deprecated and refused by
  CUDA builds that lack split buffers.
- **expert**: each node holds 1/N of the routed experts and every other weight whole; two all-to-all
  exchanges per MoE layer.

Per node the step time is :mod:`tokbench.plan.speed`'s on that node's share of the work with that
node's own parameters, so a 512 GB and a 256 GB Mac each run at their own speed. The link's cost per
event is ``round trips x latency + bytes / bandwidth`` with the round trips an engine makes per
event (stated constants, below); the band is the nodes' band widened to the extrapolated level,
since few published cluster rows exist to fit the link terms.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources

from tokbench.errors import UserError, unknown

SPLITS = ("pipeline", "tensor", "expert")
# Round trips on the link per event, per engine backend (what its runtime does, from its sources):
# llama.cpp: a stage boundary copies the activations host-side through the scheduler (RPC: set_tensor,
# graph_compute, get_tensor: about 3 round trips per remote stage per token; -sm tensor: a copy each
# way per all-reduce); MLX (mlx.launch, exo): one message per all-reduce / boundary; NCCL (vLLM,
# SGLang): a ring all-reduce of small messages costs ~6 link latencies (NCCL 54-64 us vs 8.8 us wire
# on CX-7, local-inference-lab/b12x PR 295).
ROUND_TRIPS = {"llama.cpp": {"hop": 3.0, "allreduce": 2.0}, "mlx": {"hop": 1.0, "allreduce": 2.0},
               "vllm": {"hop": 1.0, "allreduce": 6.0}, "sglang": {"hop": 1.0, "allreduce": 6.0}}
# Fixed cost of one all-reduce beyond the link's round trips and bytes, per backend: llama.cpp's meta
# backend (-sm tensor) ends a graph segment at each all-reduce and exchanges the partial sums (NCCL
# where built, else ggml-cuda/allreduce.cu: staged through pinned host memory with a handshake
# between the GPUs) before the next segment starts. 16 us per exchange step is
# fitted on two rows, the 2x H200 -sm tensor tg128 of llama-3.3-70b and llama-3.1-8b (22 us per
# all-reduce measured, less the link's 2 x 3 us): in-sample for those two rows. The other backends'
# collectives are in ROUND_TRIPS already.
ALLREDUCE_SYNC_S = {"llama.cpp": 16e-6}
# llama.cpp RPC's own payload rate: one TCP stream, each message received into a host buffer and then
# copied to the device, synchronously. 0.5 GB/s is what the 2x H200 host's loopback RPC rows show
# (pp512: 16.8 MB of activations per ubatch cost 39-41 ms more than one GPU; tg128: the 513 KB of
# logits and 32 KB of activations per token cost 1.0 ms more); in-sample for those rows. A 107 GB
# model did not finish loading over the same path in 327 s (< 0.33 GB/s), the same order.
RPC_GBS = 0.5
LOGIT_BYTES = 4  # F32 logits per vocabulary entry (what the client reads back from the last stage)
ACT_BYTES = 4  # F32 activations between llama.cpp stages (and all-reduce payloads per element)
N_BATCH = 2048  # llama.cpp's default logical batch: ubatches of one batch are pipelined over the stages
# Band of a prefill estimate: the 10th-90th percentile of measured / planned over the 31 published
# single-machine llama.cpp prefill rows (tokbench validate, 2026-11-30; fit rows, so in-sample). The
# prefill roofline is coarser than the decode model (the H200's out-of-sample pp512 MAPE was 38%).
PREFILL_BAND = (0.70, 1.80)
# Architectures (GGUF names) for which llama.cpp refuses -sm tensor ("LLAMA_SPLIT_MODE_TENSOR not
# implemented for architecture"): llm_arch_supports_sm_tensor in src/llama-arch.cpp of the llama.cpp that
# llama-cpp-python 0.3.36 vendors (the build measured on the H200s).
LLAMA_CPP_NO_TENSOR_SPLIT = frozenset({
    "grok", "mpt", "plamo2", "minicpm3", "gemma3n", "mamba", "mamba2", "jamba", "falcon-h1", "olmo2", "olmoe",
    "deepseek2", "deepseek32", "hy_v4", "dots3note", "glm-dsa", "bitnet", "t5", "nemotron_h", "nemotron_h_moe",
    "granitehybrid", "minimax-01", "minimax-m2", "minimax-m3", "mistral4", "kimi-linear", "bailingmoe3", "kimi-k3",
    "glm5-next", "qwen3tts", "qwen4exp"})
# Thunderbolt 5 ports per Mac, for JACCL's full mesh (every pair of Macs needs its own cable).
TB5_PORTS = {"apple": 4}


@dataclass(frozen=True)
class Link:
    """An interconnect between nodes."""

    id: str
    name: str
    transport: str  # rdma | tcp | nvlink | pcie
    bandwidth_gbs: float  # per direction, payload
    latency_us: float  # one small message, one way
    notes: str = ""
    source: str = ""

    def seconds(self, nbytes: float, round_trips: float = 1.0, max_gbs: float | None = None) -> float:
        """Time of one event moving ``nbytes`` that costs ``round_trips`` link latencies (``max_gbs``: the
        engine's own payload rate, where it is below the link's)."""
        gbs = self.bandwidth_gbs if max_gbs is None else min(self.bandwidth_gbs, max_gbs)
        return round_trips * self.latency_us * 1e-6 + nbytes / (gbs * 1e9)


@lru_cache(maxsize=1)
def links() -> dict[str, Link]:
    """The link catalog (``catalog/data/links.csv``, each with its source)."""
    text = resources.files("tokbench.catalog").joinpath("data/links.csv").read_text()
    return {r["id"]: Link(id=r["id"], name=r["name"], transport=r["transport"], bandwidth_gbs=float(r["bandwidth_gbs"]),
                          latency_us=float(r["latency_us"]), notes=r["notes"], source=r["source"])
            for r in csv.DictReader(text.splitlines())}


def get_link(name: str) -> Link:
    """A catalog link by id (UserError with close matches)."""
    key = name.strip().lower()
    if key not in links():
        raise unknown("link", name, links())
    return links()[key]


@dataclass(frozen=True)
class Topology:
    """Nodes (one Hardware each: a GPU or a machine), the link between them, and the split."""

    nodes: tuple
    link: Link
    split: str

    @property
    def label(self) -> str:
        """``2x h200:141`` or ``m3-ultra-80c:512+m3-ultra-80c:256``, with link and split."""
        ids = [h.label for h in self.nodes]
        body = f"{len(ids)}x {ids[0]}" if len(set(ids)) == 1 else "+".join(ids)
        return f"{body} over {self.link.id}, {self.split} split"


def parse_nodes(text: str):
    """``2x ID[:GB]`` or ``ID[:GB]+ID[:GB]...`` -> tuple of Hardware; None for a single machine."""
    from tokbench.catalog.hardware import get_hardware

    t = text.strip()
    m = re.fullmatch(r"(\d+)\s*[x*]\s*(\S+)", t)
    if m:
        n = int(m.group(1))
        if n < 1 or n > 64:
            raise UserError(f"'{text}': between 1 and 64 nodes")
        return (get_hardware(m.group(2)),) * n if n > 1 else None
    if "+" in t:
        return tuple(get_hardware(p) for p in t.split("+") if p.strip())
    return None


def default_link(nodes) -> str:
    """The link a cluster of these nodes most likely uses: NVLink between datacenter GPUs of one host,
    Thunderbolt 5 with RDMA between Macs, ConnectX-7 between DGX Sparks, else 10 GbE."""
    kinds = {h.kind for h in nodes}
    ids = {h.id for h in nodes}
    if kinds == {"apple"}:
        return "tb5-rdma"
    if ids <= {"dgx-spark"}:
        return "cx7"
    if kinds == {"nvidia"} and all(h.memory_type.upper().startswith("HBM") for h in nodes):
        return "nvlink"
    if kinds == {"nvidia"}:
        return "pcie4"
    return "10gbe"


@dataclass
class NodePlan:
    """One node's share."""

    hardware: str
    layers: str  # "0-39" (pipeline) or "all"
    weights_bytes: int
    kv_bytes: int
    state_bytes: int
    overhead_bytes: int
    total_bytes: int
    usable_bytes: int
    fits: bool
    step_ms: float  # its share of one decode step, link excluded


@dataclass
class ClusterPlan:
    """A model on a topology: memory per node, feasibility, speed (``tokbench plan`` cluster rows)."""

    model: str
    quant: str
    topology: str
    engine: str
    split: str
    context: int
    concurrency: int
    nodes: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # why it cannot run as planned (empty: feasible)
    decode_tps: float | None = None
    decode_tps_low: float | None = None
    decode_tps_high: float | None = None
    per_stream_decode_tps: float | None = None
    aggregate_decode_tps: float | None = None
    prefill_tps: float | None = None
    prefill_tps_low: float | None = None
    prefill_tps_high: float | None = None
    prompt_tokens: int | None = None  # the prompt prefill_tps is for
    link_ms_per_token: float | None = None
    single_node_decode_tps: float | None = None  # the largest node alone, when the model fits it
    single_node_prefill_tps: float | None = None
    notes: list = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        """True when nothing stops it (every node fits, heads divide, the engine does the split)."""
        return not self.problems

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        from dataclasses import asdict

        return {**asdict(self), "feasible": self.feasible}


def _stage_layers(n_layers: int, usable: list[int]) -> list[range]:
    """Contiguous layer ranges proportional to each node's usable memory (llama.cpp's -ts default)."""
    total = sum(usable)
    bounds, acc = [0], 0.0
    for u in usable[:-1]:
        acc += n_layers * u / total
        bounds.append(min(max(round(acc), bounds[-1]), n_layers))
    bounds.append(n_layers)
    return [range(a, b) for a, b in zip(bounds, bounds[1:])]


def _sub_spec(spec, layers: range):
    """``spec`` cut to ``layers`` (for KV, state and attention of one pipeline stage)."""
    kinds = spec.kinds[layers.start:layers.stop]
    return replace(spec, n_layers=len(kinds), layer_kinds=tuple(kinds), tensor_list=None,
                   n_dense_layers=max(0, min(spec.n_dense_layers, layers.stop) - layers.start))


def _node_memory(spec, sub, work_bytes: float, hw, engine, context, conc, kv_type, kv_share=1.0):
    from tokbench.plan.kv import kv_cache
    from tokbench.plan.memory import overhead_bytes

    cache = kv_cache(sub, context, conc, kv_type)
    kv, state = int(cache.kv_bytes * kv_share), int(cache.state_bytes * kv_share)
    over = overhead_bytes(spec, engine, conc, hw.kind)
    return kv, state, over, int(work_bytes) + kv + state + over


def _problems(spec, topo: Topology, engine: str) -> list[str]:
    from tokbench.catalog.engines import ENGINES

    out = []
    n = len(topo.nodes)
    eng = ENGINES.get(engine)
    if eng is not None and topo.split not in eng.splits:
        who = [e.name for e in ENGINES.values() if topo.split in e.splits]
        out.append(f"{engine} has no {topo.split} split (engines that do: {', '.join(who)})")
    if topo.split == "tensor":
        if spec.n_heads % n:
            out.append(f"tensor split over {n} nodes: {spec.n_heads} attention heads do not divide by {n} "
                       "(exo and vLLM refuse; pipeline or a divisor of the head count)")
        if eng is not None and eng.backend == "llama.cpp" and topo.link.transport not in ("nvlink", "pcie"):
            out.append("llama.cpp's tensor split (-sm tensor) runs on the GPUs of one machine, not over a network")
        if eng is not None and eng.backend == "llama.cpp" and spec.arch in LLAMA_CPP_NO_TENSOR_SPLIT:
            out.append(f"llama.cpp has no tensor split (-sm tensor) for architecture '{spec.arch}' (layer split or RPC)")
    if topo.split == "expert" and not spec.n_experts:
        out.append(f"{spec.name} has no routed experts to split")
    if topo.link.id == "tb5-rdma" and n > TB5_PORTS["apple"] + 1:
        out.append(f"RDMA over Thunderbolt (JACCL) needs a cable between every pair: {n} Macs need "
                   f"{n - 1} Thunderbolt 5 ports each")
    return out


def _bytes(spec, sizes, pick) -> float:
    """Weight bytes of one node: ``pick(tensor)`` -> the share of that tensor the node holds."""
    return sum(sizes[t.name][1] * pick(t) for t in spec.tensors())


def _is_matrix(t) -> bool:
    return len(t.shape) > 1 and t.shape[1] > 1 and t.role != "token_embd"


def _shares(spec, topo: Topology, usable: list[int]):
    """Per node: (layers or None, head?, matrix share, expert share, pick(tensor) -> bytes share, KV share);
    a pipeline's stages sized to each node's ``usable`` bytes."""
    n = len(topo.nodes)
    if topo.split == "pipeline":
        ranges = _stage_layers(spec.n_layers, usable)
        out = []
        for i, lr in enumerate(ranges):
            first, last = i == 0, i == n - 1

            def pick(t, lr=lr, first=first, last=last):
                if t.layer is not None:
                    return 1.0 if t.layer in lr else 0.0
                return 1.0 if (first if t.role == "token_embd" else last) else 0.0
            out.append((lr, last, 1.0, None, pick, 1.0))
        return out
    kv_share = 1 / n if spec.n_kv_heads % n == 0 else 1.0  # KV heads that do not divide are replicated
    out = []
    for i in range(n):
        if topo.split == "tensor":  # llama.cpp's -sm tensor splits the expert stacks too (its -sm row did not)
            e_share = m_share = 1 / n
        else:  # expert
            e_share, m_share, kv_share = 1 / n, 1.0, 1.0

        def pick(t, m=m_share, e=e_share):
            if not _is_matrix(t):
                return 1.0
            return e if t.is_expert else m
        out.append((None, True, m_share, e_share, pick, kv_share))
    return out


def is_rpc(topo: Topology, engine_backend: str) -> bool:
    """llama.cpp over a network link: a pipeline through rpc-server processes (the client holds node 0)."""
    return engine_backend == "llama.cpp" and topo.split == "pipeline" and topo.link.transport not in ("nvlink", "pcie")


def _allreduce_seconds(topo: Topology, engine_backend: str, nbytes: float) -> float:
    """One all-reduce of ``nbytes`` per node: the backend's fixed cost per exchange step (pairwise
    exchanges, recursive doubling: one step for two nodes) plus a ring's bytes and round trips."""
    n = len(topo.nodes)
    rt = ROUND_TRIPS.get(engine_backend, ROUND_TRIPS["mlx"])
    steps = math.ceil(math.log2(n))
    ring = nbytes * 2 * (n - 1) / n  # a ring all-reduce moves 2(N-1)/N of the payload per node
    return steps * ALLREDUCE_SYNC_S.get(engine_backend, 0.0) + topo.link.seconds(ring, rt["allreduce"])


def _link_seconds(spec, topo: Topology, engine_backend: str, conc: int, n_tokens: int = 1,
                  logits: int | None = None) -> float:
    """The link's cost of one step of ``conc`` sequences of ``n_tokens`` tokens each (decode: 1; a prefill
    ubatch: its tokens); ``logits``: rows of logits an RPC client reads back (default: one per sequence)."""
    n = len(topo.nodes)
    rt = ROUND_TRIPS.get(engine_backend, ROUND_TRIPS["mlx"])
    act = spec.hidden * ACT_BYTES * conc * n_tokens
    if topo.split == "pipeline":
        if is_rpc(topo, engine_backend):
            back = spec.vocab * LOGIT_BYTES * (conc if logits is None else logits)
            rate = min(topo.link.bandwidth_gbs, RPC_GBS) * 1e9
            return (n - 1) * topo.link.seconds(act, rt["hop"], RPC_GBS) + back / rate
        return (n - 1) * topo.link.seconds(act, rt["hop"])
    if topo.split == "tensor":
        return 2 * spec.n_layers * _allreduce_seconds(topo, engine_backend, act)
    moe_layers = sum(1 for i in range(spec.n_layers) if spec.is_moe_layer(i))
    return 2 * moe_layers * topo.link.seconds(act * max(spec.n_experts_used, 1) * (n - 1) / n, rt["allreduce"])


def _prefill_seconds(spec, topo: Topology, engine_backend: str, stage_s: list[float], prompt: int) -> float:
    """Seconds per prompt token of a ``prompt``-token prefill from each node's seconds per token.

    llama.cpp's pipeline overlaps the ubatches of one batch (module docstring): a batch of U ubatches
    costs ``sum(stages) + (U - 1) * max(stages)`` ubatch-times. Other engines' pipelines are charged
    every stage in turn: mlx-lm's and exo's process a prompt's chunks one after another through all
    ranks, and vLLM overlaps micro-batches of different requests, not one prompt's. Tensor and expert
    splits wait for the slowest node. The link's cost is per ubatch, plus (RPC) the last token's
    logits once per prompt."""
    from tokbench.plan.kv import DEFAULT_UBATCH

    u = max(1, min(prompt, DEFAULT_UBATCH))
    link = _link_seconds(spec, topo, engine_backend, 1, u, logits=0) / u
    if is_rpc(topo, engine_backend):
        link += spec.vocab * LOGIT_BYTES / (min(topo.link.bandwidth_gbs, RPC_GBS) * 1e9) / prompt
    if topo.split != "pipeline":
        return max(stage_s) + link
    ubatches = math.ceil(min(prompt, N_BATCH) / u) if engine_backend == "llama.cpp" else 1
    return (sum(stage_s) + (ubatches - 1) * max(stage_s)) / ubatches + link


def plan_cluster(spec, quant: str | None, topo: Topology, engine: str = "llama.cpp", context: int = 4096,
                 concurrency: int = 1, kv_type: str = "f16", depth: int | None = None, *,
                 prompt_tokens: int | None = None, prompt_depth: float | None = None,
                 gpu_limit_gb: float | None = None, gpu_fraction: float | None = None,
                 os_reserve_gb: float | None = None) -> ClusterPlan:
    """Memory per node, feasibility, and decode / prefill speed of ``spec`` on ``topo`` (module docstring).

    Decode is at ``depth`` (default ``context``); prefill is for a prompt of ``prompt_tokens`` (default
    ``context``) whose tokens attend ``prompt_depth`` earlier tokens on average (default half the
    prompt; llama-bench's pp512 at depth d: ``d + 256``). ``gpu_limit_gb``, ``gpu_fraction`` and
    ``os_reserve_gb`` apply to every node as they do to one machine (:func:`tokbench.plan.memory.usable_memory`).
    """
    from tokbench.catalog.calibration import backend_of, get_calibration, is_server_engine, speed_params
    from tokbench.plan import _resolve
    from tokbench.plan.memory import _typed_bytes, canonical_quant, usable_memory
    from tokbench.plan.speed import prefill_seconds_per_token, server_seconds, step_parts
    from tokbench.plan.work import work_profile

    spec, _, engine, kv_type = _resolve(spec, None, engine, kv_type)
    depth = context if depth is None else depth
    prompt = max(1, prompt_tokens or context)
    pdepth = prompt / 2 if prompt_depth is None else prompt_depth
    sizes = _typed_bytes(spec, quant)
    backend = backend_of(engine)
    plan = ClusterPlan(model=spec.name, quant=canonical_quant(spec, quant), topology=topo.label, engine=engine,
                       split=topo.split, context=context, concurrency=concurrency, prompt_tokens=prompt,
                       problems=_problems(spec, topo, engine))
    usable = [usable_memory(h, engine, gpu_limit_gb, gpu_fraction, os_reserve_gb).usable_bytes for h in topo.nodes]
    steps1, stepsn, prefill, bands = [], [], [], []
    for hw, use, (layers, head, m_share, e_share, pick, kv_share) in zip(topo.nodes, usable, _shares(spec, topo, usable)):
        sub = _sub_spec(spec, layers) if layers is not None else spec
        work = work_profile(spec, quant, sizes, layers=layers, head=head, matrix_share=m_share, expert_share=e_share)
        wbytes = _bytes(spec, sizes, pick)
        kv, state, over, total = _node_memory(spec, sub, wbytes, hw, engine, context, concurrency, kv_type, kv_share)
        k = get_calibration(hw, engine)
        bands.append((k.band_low, k.band_high))
        att_spec = replace(sub, n_kv_heads=max(1, int(sub.n_kv_heads * kv_share)), n_heads=max(1, int(sub.n_heads * m_share)))
        t1 = step_parts(att_spec, work, hw, k, depth, kv_type, 1).total
        steps1.append(t1)
        stepsn.append(step_parts(att_spec, work, hw, k, depth, kv_type, concurrency).total)
        prefill.append(prefill_seconds_per_token(att_spec, work, hw, k, pdepth))
        plan.nodes.append(NodePlan(hardware=hw.label, layers=f"{layers.start}-{layers.stop - 1}" if layers else "all",
                                   weights_bytes=int(wbytes), kv_bytes=kv, state_bytes=state, overhead_bytes=over,
                                   total_bytes=total, usable_bytes=use, fits=total <= use, step_ms=t1 * 1e3))
        if total > use:
            plan.problems.append(f"{hw.label} needs {total / 2**30:.1f} GiB of {use / 2**30:.1f} GiB usable")
    combine = sum if topo.split == "pipeline" else max
    server = server_seconds(spec, get_calibration(topo.nodes[0], engine)) if is_server_engine(engine) else 0.0
    link1 = _link_seconds(spec, topo, backend, 1)
    t1 = combine(steps1) + link1 + server
    tn = combine(stepsn) + _link_seconds(spec, topo, backend, concurrency) + concurrency * server
    lo = min(b[0] for b in bands)
    hi = max(b[1] for b in bands)
    ext = speed_params()["bands"]["extrapolated"]  # the link terms are stated constants, few rows checked them
    plan.decode_tps, plan.link_ms_per_token = 1 / t1, link1 * 1e3
    plan.decode_tps_low, plan.decode_tps_high = plan.decode_tps * min(lo, ext[0]), plan.decode_tps * max(hi, ext[1])
    plan.per_stream_decode_tps, plan.aggregate_decode_tps = 1 / tn, concurrency / tn
    if all(s is not None for s in prefill):
        plan.prefill_tps = 1 / _prefill_seconds(spec, topo, backend, prefill, prompt)
        plan.prefill_tps_low, plan.prefill_tps_high = (plan.prefill_tps * b for b in PREFILL_BAND)
    _add_notes(plan, topo, backend)
    _single_node(plan, spec, quant, topo, engine, context, concurrency, kv_type, depth, pdepth,
                 dict(gpu_limit_gb=gpu_limit_gb, gpu_fraction=gpu_fraction, os_reserve_gb=os_reserve_gb))
    return plan


def _add_notes(plan: ClusterPlan, topo: Topology, backend: str) -> None:
    link = topo.link
    plan.notes.append(f"link {link.name}: {link.bandwidth_gbs:g} GB/s, {link.latency_us:g} us per "
                      f"message ({link.source.split(';')[0]}); {plan.link_ms_per_token:.2f} ms per token on it")
    if is_rpc(topo, backend):
        plan.notes.append(f"llama.cpp RPC: activations to each remote stage and the logits back at most "
                          f"{RPC_GBS:g} GB/s (RPC's own payload rate, measured on loopback)")
    if topo.split == "tensor" and ALLREDUCE_SYNC_S.get(backend):
        plan.notes.append(f"{backend} tensor split: 2 all-reduces per layer, each "
                          f"{ALLREDUCE_SYNC_S[backend] * 1e6:g} us of synchronization plus the link's cost")
    if topo.split == "pipeline" and backend == "llama.cpp" and plan.prompt_tokens and plan.prompt_tokens > 512:
        plan.notes.append("prefill pipelined over the stages, ubatch by ubatch (llama.cpp n_batch 2048, n_ubatch 512)")
    plan.notes.append("decode band widened to the extrapolated level: link and engine round trips are stated "
                      f"constants, checked against published cluster rows, not fitted; prefill band x{PREFILL_BAND[0]:g}"
                      f"-x{PREFILL_BAND[1]:g} (published single-machine prefill rows)")


def _single_node(plan: ClusterPlan, spec, quant, topo: Topology, engine, context, conc, kv_type, depth, pdepth,
                 memory: dict) -> None:
    """The largest node alone, when the model fits it: decode at ``depth`` and prefill at ``pdepth``."""
    from tokbench.catalog.calibration import get_calibration
    from tokbench.plan import _weights, estimate
    from tokbench.plan.speed import prefill_seconds_per_token

    big = max(topo.nodes, key=lambda h: h.memory_gb)
    one = estimate(spec, quant, big, engine, context, conc, kv_type, depth=depth, **memory)
    if not one.fits:
        return
    plan.single_node_decode_tps = one.decode_tps
    s = prefill_seconds_per_token(spec, _weights(spec, quant)[1], big, get_calibration(big, engine), pdepth)
    plan.single_node_prefill_tps = 1 / s if s else None
