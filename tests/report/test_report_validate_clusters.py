"""Published cluster rows against the cluster planner (tokbench.report.validate_clusters)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokbench.report import validate_clusters as vc

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def result():
    skipped: list[dict] = []
    return vc.cluster_rows_validation(skipped), skipped


def test_package_copy_is_the_published_file():
    src = ROOT / "data" / "published" / "clusters.csv"
    if not src.exists():
        pytest.skip("no data/published in this checkout")
    assert (ROOT / "src/tokbench/catalog/data" / vc.FILE).read_bytes() == src.read_bytes()


def test_every_row_is_estimated_or_skipped_with_its_reason(result):
    rows, skipped = result
    assert len(rows) + len(skipped) == len(vc.load_rows()) == 445
    assert all(s["reason"].startswith("cluster row") and s["source"] for s in skipped)
    for r in rows:
        assert r["role"] == "reference" and r["cluster"] and r["source"]
        assert r["error_pct"] == pytest.approx(100 * (r["estimated_tps"] - r["measured_tps"]) / r["measured_tps"])


def test_a_row_is_plan_cluster_on_its_topology(result):
    from tokbench.catalog.hardware import get_hardware
    from tokbench.modelspec import load_spec
    from tokbench.plan.cluster import Topology, get_link, plan_cluster

    rows, _ = result
    r = next(x for x in rows if x["hardware"] == "2x rtx-3090" and x["model"] == "llama-3.3-70b"
             and x["metric"] == "decode_tps")
    topo = Topology((get_hardware("rtx-3090"),) * 2, get_link("pcie4"), "pipeline")
    want = plan_cluster(load_spec("llama-3.3-70b"), r["quant"], topo, "llama.cpp", r["context"], 1,
                        depth=r["context"]).decode_tps
    assert r["estimated_tps"] == pytest.approx(want)
    assert (r["split"], r["link"], r["devices"]) == ("pipeline", "pcie4", 2)


@pytest.mark.parametrize("field,text,want", [
    ("link", "1gbe", "gbe"), ("link", "cx7 (ConnectX-7 200GbE, per the PR description)", "cx7"),
    ("link", "PCIe (RunPod host; topology not stated)", "pcie4"), ("link", "not stated", None),
    ("split", "layer (llama.cpp default -sm layer)", "pipeline"), ("split", "rpc (local rpc-server)", "pipeline"),
    ("split", "not stated", None), ("engine", "exo (1.071)", "exo"), ("engine", "mlx-lm (tensor-parallel)", "mlx"),
    ("engine", "not stated", None),
])
def test_published_spellings(field, text, want):
    fn = {"link": vc.row_link, "split": vc.row_split, "engine": vc.row_engine}[field]
    assert fn({field: text}) == want


def test_summary_per_engine_split_link(result):
    rows, _ = result
    s = vc.summarize_clusters(rows)
    assert sum(g["n"] for g in s.values()) == len(rows)
    assert "llama.cpp x pipeline x pcie4" in s
    lines = vc.cluster_lines({"summary": {"clusters": s}})
    assert any("llama.cpp x pipeline x pcie4" in line and "MAPE" in line for line in lines)


def test_split_error_is_the_planned_speedup_against_the_measured_one(result):
    rows, _ = result
    with_single = [r for r in rows if r["single_node_measured_tps"]]
    assert with_single and all(r["single_node_estimated_tps"] for r in with_single)
    for r in with_single:
        want = (r["estimated_tps"] / r["single_node_estimated_tps"]) / (r["measured_tps"] / r["single_node_measured_tps"])
        assert r["split_error_pct"] == pytest.approx(100 * (want - 1))
    assert all(r["split_error_pct"] is None for r in rows if not r["single_node_measured_tps"])
    assert {r["metric"] for r in with_single} == {"decode_tps", "prefill_tps"}  # prefill rows have a single node too


def test_layer_split_prefill_speedup_follows_the_pipelined_ubatches(result):
    """4 GPUs, llama-bench pp4096 (two 2048-token batches of 4 ubatches): the RunPod rows measured 2.0x over
    one GPU on average; a planner without the pipeline said 1.0x."""
    rows, _ = result
    sel = [r for r in rows if r["metric"] == "prefill_tps" and r["devices"] == 4 and "test=pp4096" in r["notes"]
           and r["single_node_measured_tps"]]
    measured = sum(r["measured_tps"] / r["single_node_measured_tps"] for r in sel) / len(sel)
    planned = sum(r["estimated_tps"] / r["single_node_estimated_tps"] for r in sel) / len(sel)
    assert measured > 1.8 and planned == pytest.approx(measured, rel=0.15)


def test_summary_has_the_splits_own_error_per_metric(result):
    rows, _ = result
    g = vc.summarize_clusters(rows)["llama.cpp x pipeline x pcie4"]
    assert set(g["by_metric"]) == {"decode_tps", "prefill_tps"}
    assert g["split_n"] == sum(x["split_n"] for x in g["by_metric"].values()) > 0
    assert any("split's own" in line for line in vc.cluster_lines({"summary": {"clusters": {"k": g}}}))


def test_tensor_split_rows_and_a_prompt_after_earlier_context(result):
    """llama.cpp PR 19378's 4x RTX 4090 rows: -sm layer and -sm tensor of gpt-oss-120b side by side; its
    pp512 at depth 65536 is a 512-token prompt (one ubatch: no pipelining), not a 131k-token one."""
    rows, _ = result
    pr = [r for r in rows if "pull/19378" in r["source"]]
    assert {(r["split"], r["link"]) for r in pr} == {("pipeline", "pcie4"), ("tensor", "pcie4")} and len(pr) == 12
    assert "llama.cpp x tensor x pcie4" in vc.summarize_clusters(rows)
    r = next(x for x in pr if x["split"] == "pipeline" and "test=pp512 @ d65536" in x["notes"])
    assert r["context"] == 65536 + 256
    from tokbench.catalog.hardware import get_hardware
    from tokbench.plan.cluster import Topology, get_link, plan_cluster

    topo = Topology((get_hardware("rtx-4090"),) * 4, get_link("pcie4"), "pipeline")
    want = plan_cluster(vc._spec("gpt-oss-120b"), "MXFP4_MOE", topo, "llama.cpp", 65536 + 512, 1, depth=65536 + 256,
                        prompt_tokens=512, prompt_depth=65536 + 256)
    assert r["estimated_tps"] == pytest.approx(want.prefill_tps)
    assert vc.row_prompt({"notes": "test=pp512; depth=256"}, 256) == 512
