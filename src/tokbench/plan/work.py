"""What one decode step asks of the machine: weights by storage type, and the kernels it runs.

The speed model (:mod:`tokbench.plan.speed`) times each storage type's matrix kernels against two
roofs, the memory stream and the kernel's own throughput, so it needs bytes *and* weights (elements)
per ggml type, split into what every token reads (attention, router, shared experts, head) and the
routed-expert stacks of which a token reads k of E slices. It charges a fixed cost per graph node,
so it also needs how many nodes llama.cpp runs per token: counted per architecture and layer kind by
``scripts/count_graph_nodes.py`` into ``catalog/data/graph_nodes.csv``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from tokbench.modelspec.model import ModelSpec

# Nodes per layer where an architecture has not been counted: the counted architectures' typical
# figure for that (attention, ffn) kind (graph_nodes.csv), and a head of 6 nodes.
GENERIC_NODES = {("full", "dense"): 21, ("sliding", "dense"): 28, ("full", "moe"): 37, ("sliding", "moe"): 35,
                 ("linear", "moe"): 68, ("linear", "dense"): 55, ("mla", "dense"): 27, ("mla", "moe"): 48}
GENERIC_HEAD = 6


@dataclass(frozen=True)
class TypeWork:
    """Weights of one ggml storage type: bytes and elements, read by every token or routed."""

    dense_bytes: int = 0
    dense_elems: int = 0
    expert_bytes: int = 0  # all experts' stacks; a step reads the touched share
    expert_elems: int = 0
    mats: int = 0  # weight matrices (and expert stacks) of this type: one matrix kernel each per step
    row_sum: int = 0  # sum of their row lengths (input widths): a kernel's last partial wave lasts one row
    head_elems: int = 0  # of dense_elems, the output head's: a prompt computes logits for its last token only


@dataclass(frozen=True)
class WorkProfile:
    """One model x quant as the speed model sees it."""

    types: dict = field(default_factory=dict)  # ggml type name -> TypeWork
    nodes: int = 0  # graph nodes of one decode step (llama.cpp, non-view ops)
    matmul_nodes: int = 0
    nodes_counted: bool = True  # False: estimated from GENERIC_NODES (architecture not counted)


@lru_cache(maxsize=1)
def _node_table() -> dict[str, dict[tuple[str, str], tuple[int, int]]]:
    text = resources.files("tokbench.catalog").joinpath("data/graph_nodes.csv").read_text()
    out: dict[str, dict] = {}
    for r in csv.DictReader(text.splitlines()):
        key = ("head", "") if r["part"] == "head" else (r["attention"], r["ffn"])
        out.setdefault(r["arch"], {})[key] = (int(r["nodes"]), int(r["matmul_nodes"]))
    return out


def graph_nodes(spec: ModelSpec, layers: range | None = None, head: bool = True) -> tuple[int, int, bool]:
    """(nodes, matmul nodes, counted) of one decode step of ``spec`` (see the module docstring); with
    ``layers`` only those layers' nodes (and the head's when ``head``): one node of a pipeline split."""
    table = _node_table().get(spec.arch)
    counted = table is not None
    top = table.get(("head", "")) if table else None
    nodes, mm = (top if top else (GENERIC_HEAD, 1)) if head else (0, 0)
    for i, kind in enumerate(spec.kinds):
        if layers is not None and i not in layers:
            continue
        part = (kind, "moe" if spec.is_moe_layer(i) else "dense")
        if table and part in table:
            n, m = table[part]
        else:
            counted = False
            n = GENERIC_NODES.get(part, GENERIC_NODES[("full", part[1])])
            m = 8 if part[1] == "moe" else 7
        nodes += n
        mm += m
    return nodes, mm, counted


def work_profile(spec: ModelSpec, quant: str | None, sizes: dict | None = None, layers: range | None = None,
                 head: bool = True, matrix_share: float = 1.0, expert_share: float | None = None) -> WorkProfile:
    """Bytes and elements per storage type, and graph nodes, of ``spec`` stored as ``quant`` (``sizes``:
    the per-tensor (type, bytes) when the caller already has them).

    One node of a split model: ``layers`` (a pipeline stage: only those layers, plus the output head
    when ``head``), ``matrix_share`` (tensor parallel: each node holds that share of every matrix;
    norms and biases stay whole) and ``expert_share`` (expert parallel: that share of the experts).
    """
    from tokbench.plan.memory import _typed_bytes

    sizes = sizes if sizes is not None else _typed_bytes(spec, quant)
    e_share = matrix_share if expert_share is None else expert_share
    acc: dict[str, list[float]] = {}
    for t in spec.tensors():
        if t.role == "token_embd" and not (spec.tie_embeddings and head):
            continue  # gathered: one row per token, not streamed
        # Tied embeddings: llama.cpp's output head is this matrix (no output.weight in the file: the model's
        # output tensor falls back to token_embd), so every token multiplies all of it, like any output head.
        if (t.layer is None and not head) or (t.layer is not None and layers is not None and t.layer not in layers):
            continue
        ty, b = sizes[t.name]
        a = acc.setdefault(ty.upper(), [0, 0, 0, 0, 0, 0, 0])
        matrix = len(t.shape) > 1 and t.shape[1] > 1  # a matrix or expert stack (not a norm or bias vector)
        share = (e_share if t.is_expert else matrix_share) if matrix else 1.0
        if matrix:
            a[4] += 1
            a[5] += t.shape[0] * share
        if t.is_expert:
            a[2] += b * share
            a[3] += t.n_elements * share
        else:
            a[0] += b * share
            a[1] += t.n_elements * share
            if t.layer is None and t.role in ("output", "token_embd"):  # the head (tied: token_embd, see above)
                a[6] += t.n_elements * share
    nodes, mm, counted = graph_nodes(spec, layers, head)
    return WorkProfile(types={ty: TypeWork(*(int(x) for x in v)) for ty, v in sorted(acc.items())}, nodes=nodes,
                       matmul_nodes=mm, nodes_counted=counted)

