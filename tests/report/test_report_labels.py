"""How reports name things: contexts as the seed writes them, short model names, topology in words."""

from __future__ import annotations

from tokbench.report.labels import UNKNOWN, Unknowns, engine_text, short_model, strip_quant, tokens_text, topology_text


def test_tokens_text_reads_as_the_seed():
    assert [tokens_text(n) for n in (0, 64, 576, 1024, 1536, 4096, 4160, 32768, 131072, 131200)] == \
        ["0", "64", "576", "1K", "~1.5K", "4K", "~4K", "32K", "128K", "~128K"]
    assert tokens_text(None) == UNKNOWN


def test_short_model_drops_path_suffix_and_hash():
    assert short_model("/root/.cache/tokbench/models/tokbench-default-Q4_K_M-13bc08c62bee.gguf") == \
        "tokbench-default-Q4_K_M"
    assert strip_quant("tokbench-default-Q4_K_M", "Q4_K_M") == "tokbench-default"
    assert short_model("unsloth/Qwen3.5-35B-A3B-GGUF") == "unsloth/Qwen3.5-35B-A3B-GGUF"  # HF ids keep their org
    assert short_model(None) == UNKNOWN


def test_engine_and_topology_in_words():
    assert engine_text({"bench_engine": "llama.cpp", "engine_version": "0.3.16"}) == "llama.cpp 0.3.16"
    assert engine_text({}) == UNKNOWN
    assert topology_text({"nodes": 1, "gpus": 0}) == "one machine, CPU only"
    assert topology_text({"nodes": 2, "gpus": 2, "split": "pipeline", "link": "rpc-10gbe"}) == \
        "2 machines, 2 GPUs, pipeline split, over rpc-10gbe"
    assert topology_text({"nodes": 1, "gpus": None}) == "one machine, devices behind the endpoint not known"


def test_unknowns_are_said_once():
    u = Unknowns()
    assert u.add("hardware", "run a") == UNKNOWN
    u.add("hardware", "run a")
    u.add("hardware", "run b")
    note = u.note()
    assert note.count("run a") == 1 and "run b" in note and "--hardware" in note
    assert Unknowns().note() == ""
