"""`tokbench plan MODEL --hardware "2x ID"` / "ID+ID": cluster plans, one row per link, exit 2 on bad names."""

import json

import pytest

from tokbench.cli.main import main


def _rows(capsys, *argv):
    assert main(["plan", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)["rows"]


def test_seed_question_397b_q8_on_two_256gb_macs(capsys):
    rows = _rows(capsys, "qwen3.5-397b-a17b", "-q", "Q8_0", "--hardware", "2x m3-ultra-80c:256")
    (r,) = rows
    assert r["hardware"] == "2x m3-ultra-80c:256" and r["split"] == "pipeline" and r["link"] == "tb5-rdma"
    assert [n["layers"] for n in r["nodes"]] == ["0-29", "30-59"]
    for n in r["nodes"]:
        assert n["total_bytes"] == n["weights_bytes"] + n["kv_bytes"] + n["state_bytes"] + n["overhead_bytes"]
    # Q8_0 (~422 GB) cannot sit on one 256 GB Mac, and the single-node comparison says so.
    assert r["single_node_decode_tps"] is None
    assert r["decode_tps_low"] < r["decode_tps"] < r["decode_tps_high"]
    assert r["feasible"] == (not r["problems"]) == all(n["fits"] for n in r["nodes"])


def test_mixed_nodes_get_layers_by_memory(capsys):
    (r,) = _rows(capsys, "qwen3.5-397b-a17b", "-q", "Q8_0", "--hardware", "m3-ultra-80c:512+m3-ultra-80c:256")
    big, small = r["nodes"]
    assert big["hardware"] == "m3-ultra-80c:512" and small["hardware"] == "m3-ultra-80c:256"
    assert big["weights_bytes"] > 1.5 * small["weights_bytes"]  # layers split in proportion to usable memory
    assert r["feasible"], r["problems"]


def test_one_row_per_link_answers_which_link_pays(capsys):
    rows = _rows(capsys, "deepseek-v3", "-q", "mlx-4bit", "--hardware", "2x m3-ultra-80c:512", "--split", "tensor",
                 "--link", "tb5-rdma,10gbe")
    assert [r["link"] for r in rows] == ["tb5-rdma", "10gbe"]
    fast, slow = rows
    assert fast["link_ms_per_token"] < slow["link_ms_per_token"]
    assert fast["decode_tps"] > slow["decode_tps"]


def test_table_names_nodes_links_and_the_single_node_comparison(capsys):
    assert main(["plan", "deepseek-v3", "-q", "Q4_K_M", "--hardware", "2x m3-ultra-80c:512",
                 "--link", "tb5-rdma,10gbe"]) == 0
    out = capsys.readouterr().out
    for text in ("Memory per node", "0: m3-ultra-80c:512", "1: m3-ultra-80c:512", "Link ms/token", "One node alone",
                 "tb5-rdma", "10gbe", "10 Gigabit Ethernet", "Prefill tok/s", "prefill band"):
        assert text in out, text


def test_memory_options_size_every_node_as_for_one_machine(capsys):
    (free,) = _rows(capsys, "llama-3.3-70b", "-q", "Q4_K_M", "--hardware", "2x h200")
    (capped,) = _rows(capsys, "llama-3.3-70b", "-q", "Q4_K_M", "--hardware", "2x h200", "--gpu-limit-gb", "15")
    assert free["feasible"] and not capped["feasible"]
    assert [n["usable_bytes"] for n in capped["nodes"]] == [15 * 2**30] * 2
    (mac,) = _rows(capsys, "llama-3.3-70b", "-q", "Q4_K_M", "--hardware", "2x m3-ultra-80c:256", "--os-reserve-gb", "100")
    assert all(n["usable_bytes"] <= (256 - 100) * 2**30 for n in mac["nodes"])


def test_prefill_with_its_band_in_json(capsys):
    (r,) = _rows(capsys, "llama-3.3-70b", "-q", "Q4_K_M", "--hardware", "2x h200", "--split", "tensor", "-c", "4096")
    assert r["prefill_tps_low"] < r["prefill_tps"] < r["prefill_tps_high"]
    assert r["prompt_tokens"] == 4096 and r["single_node_prefill_tps"] < r["prefill_tps"]


@pytest.mark.parametrize("argv, message", [
    (["--hardware", "2x m3-ultra-80c:512", "--link", "tb5rdma"], "did you mean: tb5-rdma"),
    (["--hardware", "2x m3-ultra-80c:512", "--split", "tensr"], "did you mean: tensor"),
    (["--hardware", "m3-ultra-80c:512", "--split", "tensor"], "--link and --split plan a cluster"),
    (["--hardware", "2x m3-ultra-80c:512,m3-ultra-80c:256"], "mixes clusters with single machines"),
    (["--hardware", "2x m3-ultra-80c:512", "--gpu-fraction", "1.5"], "--gpu-fraction out of range"),
    (["--hardware", "2x m3-ultra-80c:512", "--os-reserve-gb", "nan"], "--os-reserve-gb out of range"),
    (["--hardware", "2x m3-ultra-80c:512", "--min-tps", "5"], "--min-tps plan one machine"),
])
def test_bad_cluster_input_exits_2_with_one_line(capsys, argv, message):
    assert main(["plan", "deepseek-v3", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
