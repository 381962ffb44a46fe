"""Importing llama-bench, vllm bench serve and GuideLLM results (fixtures: see fixtures/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokbench.errors import UserError
from tokbench.store import open_store
from tokbench.store.export import export_json, records_csv, run_summaries, summary_csv
from tokbench.store.importers import detect_format, read_file, store_import

FIX = Path(__file__).parent / "fixtures"


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "i.db") as s:
        yield s


@pytest.mark.parametrize("name", ["llama_bench.json", "llama_bench.jsonl"])
def test_llama_bench(store, name):
    (imp,) = read_file(FIX / name)
    assert imp.format == "llama-bench" and list(imp.points) == ["pp512", "tg128", "tg128 @ d4096"]
    assert imp.config["source"]["file"] == name and len(imp.config["source"]["sha256"]) == 64
    assert imp.environment["cpu_info"] == "AMD EPYC 7B13"
    run = store_import(store, imp)
    rows = {r["point"]: r for r in run_summaries(store, run)}
    raw = json.loads((FIX / "llama_bench.json").read_text())
    tg = rows["tg128 @ d4096"]
    assert tg["context_depth"] == 4096 and tg["concurrency"] == 1
    assert tg["decode_tps_per_stream"]["mean"] == pytest.approx(raw[2]["avg_ts"])
    assert tg["decode_tps_ci95"]["sd"] == pytest.approx(raw[2]["stddev_ts"], rel=1e-4)
    assert tg["decode_tps_ci95"]["low"] < raw[2]["avg_ts"] < tg["decode_tps_ci95"]["high"]
    assert rows["pp512"]["prefill_tps"]["mean"] == pytest.approx(raw[0]["avg_ts"])
    assert rows["pp512"]["decode_tps_per_stream"]["mean"] is None
    info = store.get_run(run)
    assert info.kind == "import" and info.status == "complete" and (info.requests, info.ok) == (9, 9)


def test_vllm_summary_only(store):
    run = store_import(store, *read_file(FIX / "vllm_serve.json"))
    (row,) = run_summaries(store, run)
    assert (row["concurrency"], row["requests"], row["ok"], row["errors"]) == (8, 64, 63, 1)
    assert row["ttft_ms"] == {"p50": 790.1, "p90": None, "p99": 1204.9, "mean": 812.4}
    assert row["e2e_ms"]["p99"] == 6100.4 and row["aggregate_output_tps"] == 192.83
    assert row["decode_tps_per_stream"]["p50"] == pytest.approx(1000 / 35.1)
    assert row["context_depth"] == round(64512 / 63)


def test_vllm_appended_lines_are_points(store):
    (imp,) = read_file(FIX / "vllm_serve_appended.jsonl")
    assert [m["summary"]["concurrency"] for m in imp.points.values()] == [8, 1]


def test_vllm_detailed_gives_raw_rows(store):
    (imp,) = read_file(FIX / "vllm_serve_detailed.json", "vllm")
    assert len(imp.records) == 4
    run = store_import(store, imp)
    recs = store.records(run)
    assert [r.status for r in recs] == ["ok", "ok", "error", "ok"]
    assert recs[2].error_message == "Bad Request"
    assert recs[0].token_times == pytest.approx([100.1, 100.15, 100.2, 100.25])
    assert recs[3].token_times == []  # 1 chunk gap for 4 tokens: no per-token timestamps invented
    (row,) = run_summaries(store, run)
    assert (row["requests"], row["ok"], row["errors"]) == (4, 3, 1)
    assert row["aggregate_output_tps"] == pytest.approx(12 / 0.57)
    assert row["reported"]["completed"] == 3


def test_guidellm(store):
    (imp,) = read_file(FIX / "guidellm_report.json")
    assert list(imp.points) == ["synchronous c=1", "concurrent c=4"]
    run = store_import(store, imp)
    sync, conc = run_summaries(store, run)
    assert (conc["requests"], conc["ok"], conc["errors"], conc["incomplete"]) == (63, 60, 2, 1)
    assert sync["ttft_ms"]["mean"] == 95.0 and sync["e2e_ms"]["mean"] == pytest.approx(3900)
    assert conc["tpot_ms"]["p90"] == pytest.approx(38 * 1.05)
    assert conc["context_depth"] == 256 and conc["output_tokens"] == 60 * 128


def test_detect_and_bad_files(tmp_path):
    assert detect_format([[{"avg_ts": 1, "n_gen": 1}]]) == "llama-bench"
    with pytest.raises(UserError, match="--format"):
        detect_format([{"foo": 1}])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json\n")
    with pytest.raises(UserError, match="line 1"):
        read_file(bad)
    with pytest.raises(UserError, match="cannot read"):
        read_file(tmp_path / "missing.json")
    with pytest.raises(UserError, match="did you mean"):
        read_file(FIX / "vllm_serve.json", "vlm")
    with pytest.raises(UserError, match="not llama-bench"):
        read_file(FIX / "vllm_serve.json", "llama-bench")
    with pytest.raises(UserError, match="not a GuideLLM"):
        read_file(FIX / "vllm_serve.json", "guidellm")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps([{"avg_ts": "fast", "n_prompt": 0, "n_gen": 1, "samples_ts": ["x"]}]))
    with pytest.raises(UserError, match="malformed"):
        read_file(broken)


def test_export_documents(store):
    run = store_import(store, *read_file(FIX / "vllm_serve_detailed.json"))
    doc = export_json(store, run)
    assert doc["tokbench_export"] == 1 and doc["run"]["id"] == run and len(doc["records"]) == 4
    lines = records_csv(store, run).splitlines()
    assert len(lines) == 5 and lines[0].startswith("run_id,point,index")
    summary = summary_csv(store, run).splitlines()
    assert "ttft_ms.p50" in summary[0] and len(summary) == 2


# -- the real H200 llama-bench file (llama-bench -o jsonl; see fixtures/README.md) ----------------
H200 = FIX / "llama-bench-h200.jsonl"
H200_RUNS = {("llama-3.1-8b", "Q4_K_M"), ("llama-3.1-8b", "Q8_0"), ("llama-3.1-8b", "F16"), ("qwen2.5-7b", "Q4_K_M"),
             ("llama-3.3-70b", "Q4_K_M"), ("qwen3-30b-a3b", "Q4_K_M"), ("gpt-oss-120b", "MXFP4_MOE"),
             ("qwen3-next-80b-a3b", "Q4_K_M"), ("qwen2.5-32b", "Q4_K_M"), ("gemma-3-27b", "Q4_K_M"),
             ("gpt-oss-20b", "MXFP4_MOE"), ("qwen2.5-14b", "Q4_K_M")}


def test_h200_file_is_one_identified_run_per_model():
    imps = read_file(H200)
    assert {(i.identity["model_id"], i.identity["quant"]) for i in imps} == H200_RUNS and len(imps) == 12
    for imp in imps:
        ident = imp.identity
        assert (ident["hardware_id"], ident["engine"], ident["bench_engine"]) == ("h200", "llama.cpp", "llama-bench")
        assert ident["topology"]["gpus"] == 1 and ident["topology"]["split"] is None
        assert imp.notes == [] and imp.config["identified_by"]["model"] == "model_n_params"
        assert imp.config["identified_by"]["hardware"] == "gpu_info"
        assert list(imp.points) == ["pp512", "tg128", "pp512 @ d4096", "tg128 @ d4096"]
    by = {(i.identity["model_id"], i.identity["quant"]): i.config["identified_by"]["quant"] for i in imps}
    assert by[("llama-3.1-8b", "Q4_K_M")] == "model_size"  # bytes alone
    assert by[("llama-3.1-8b", "F16")] == "model_size+model_type"  # F16 and BF16 weigh the same


def test_h200_points_keep_the_tests(store):
    imp = next(i for i in read_file(H200) if i.identity["model_id"] == "qwen2.5-14b")
    run = store_import(store, imp)
    rows = {r["point"]: r for r in run_summaries(store, run)}
    raw = [json.loads(x) for x in H200.read_text().splitlines() if "qwen2.5-14b" in x]
    pp = next(r for r in raw if r["n_prompt"] and r["n_depth"] == 4096)
    got = rows["pp512 @ d4096"]
    assert got["prefill_tps"]["mean"] == pytest.approx(pp["avg_ts"]) and got["context_depth"] == 4096
    assert got["test"] == {"n_prompt": 512, "n_gen": 0, "n_depth": 4096}
    assert rows["tg128"]["decode_tps_per_stream"]["p50"] == pytest.approx(sorted(
        next(r for r in raw if r["n_gen"] and not r["n_depth"])["samples_ts"])[1])
    info = store.get_run(run)
    assert info.config["identity"]["model_id"] == "qwen2.5-14b" and info.config["source"]["file"] == H200.name


def _rows(tmp_path, **change):
    rows = [json.loads(x) for x in H200.read_text().splitlines()[:4]]
    path = tmp_path / "lb.jsonl"
    path.write_text("".join(json.dumps({**r, **change}) + "\n" for r in rows))
    return path


def test_not_identified_is_said_and_flags_set_it(tmp_path):
    path = _rows(tmp_path, model_n_params=123456, gpu_info="NVIDIA Tesla K80")
    (imp,) = read_file(path)
    assert imp.identity["model_id"] is None and imp.identity["quant"] == "Q4_K_M"  # the tool's text names the quant
    assert imp.identity["hardware_id"] is None and imp.identity["hardware_label"] == "NVIDIA Tesla K80"
    assert any("match no catalog model" in n and "--model" in n for n in imp.notes)
    assert any("Tesla K80" in n and "--hardware" in n for n in imp.notes)
    (imp,) = read_file(path, hardware="rtx-4090", model="llama-3.1-8b:Q4_K_M")
    assert (imp.identity["model_id"], imp.identity["quant"], imp.identity["hardware_id"]) == \
        ("llama-3.1-8b", "Q4_K_M", "rtx-4090")
    assert imp.notes == [] and imp.config["identified_by"] == {"model": "--model", "quant": "--model",
                                                               "hardware": "--hardware"}
    with pytest.raises(UserError, match="did you mean"):
        read_file(path, hardware="rtx-4909")


def test_two_gpus_and_varying_settings(tmp_path):
    path = _rows(tmp_path, gpu_info="NVIDIA H200, NVIDIA H200")
    lines = path.read_text().splitlines()
    extra = [json.dumps({**json.loads(x), "flash_attn": 1}) for x in lines]
    path.write_text("\n".join(lines + extra) + "\n")
    (imp,) = read_file(path)
    assert imp.identity["topology"] == {"nodes": 1, "gpus": 2, "split": "pipeline", "link": None, "hardware": None,
                                        "detail": None}
    assert len(imp.points) == 8 and "tg128 flash_attn=1" in imp.points and "tg128 flash_attn=-1" in imp.points


def test_export_then_import_is_the_same_run(store, tmp_path):
    for imp in [*read_file(H200)[:1], *read_file(FIX / "vllm_serve_detailed.json")]:
        run = store_import(store, imp, name="x")
        doc = export_json(store, run)
        path = tmp_path / f"{run}.json"
        path.write_text(json.dumps(doc))
        (back,) = read_file(path)
        assert back.format == "tokbench"
        again = store_import(store, back)
        a, b = store.get_run(run), store.get_run(again)
        assert b.config["identity"] == a.config["identity"] and (b.kind, b.status, b.name) == (a.kind, a.status, a.name)
        assert b.config["imported_from"]["file"] == path.name and b.config["source"] == a.config["source"]
        assert store.point_meta(again) == store.point_meta(run)
        assert run_summaries(store, again) == run_summaries(store, run)
        assert [r.to_dict() for r in store.records(again, include_warmup=True)] == \
            [r.to_dict() for r in store.records(run, include_warmup=True)]
    with pytest.raises(UserError, match="do not apply"):
        read_file(path, hardware="h200")


def test_real_guidellm_0_8_report():
    """A report GuideLLM 0.8.1 wrote here (fixtures/real/README.md): its schema read, nothing invented."""
    (imp,) = read_file(FIX / "real" / "guidellm-0.8.1-llamacpp-errors.json")
    assert imp.format == "guidellm" and imp.config["metadata"]["guidellm_version"] == "0.8.1"
    (label, point), = imp.points.items()
    s = point["summary"]
    assert label == "synchronous c=1" and (s["requests"], s["ok"], s["errors"], s["incomplete"]) == (3, 0, 3, 0)
    # no successful request: no timing (GuideLLM writes 0.0 for an empty distribution)
    assert s["decode_tps_per_stream"]["p50"] is None and s["ttft_ms"] == {"p50": None, "p90": None, "p99": None,
                                                                           "mean": None}
    assert s["aggregate_output_tps"] is None
    assert imp.identity["model_id"] == "tiny" and imp.identity["bench_engine"] == "guidellm"
    assert any(n.startswith("hardware:") and "--hardware" in n for n in imp.notes)


def test_real_vllm_detailed_result(store):
    """A file `vllm bench serve --save-detailed` wrote here (fixtures/real/README.md): per-request rows
    imported, and tokbench's summary of them agrees with vLLM's own figures."""
    path = FIX / "real" / "vllm-0.33.0-serve-detailed-scripted.json"
    doc = json.loads(path.read_text())
    (imp,) = read_file(path)
    assert imp.format == "vllm" and len(imp.records) == doc["completed"] == 8
    assert all(len(r.token_times) == 8 and r.status == "ok" for r in imp.records)  # one gap a token: exact times
    run = store_import(store, imp)
    (row,) = run_summaries(store, run)
    assert (row["concurrency"], row["requests"], row["ok"], row["output_tokens"]) == (2, 8, 8, doc["total_output_tokens"])
    assert row["ttft_ms"]["p50"] == pytest.approx(doc["median_ttft_ms"], rel=1e-6)
    assert row["ttft_ms"]["p99"] == pytest.approx(doc["p99_ttft_ms"], rel=1e-6)
    assert row["itl_ms"]["p50"] == pytest.approx(doc["median_itl_ms"], rel=1e-6)
    assert row["decode_tps_per_stream"]["p50"] == pytest.approx(1000 / doc["median_tpot_ms"], rel=0.01)
    assert row["reported"]["completed"] == 8 and imp.identity["model_id"] == "tiny"
