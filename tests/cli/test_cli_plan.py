"""`tokbench plan`: the seed's tables, JSON keys, recommendations, exit codes on bad input."""

import json
import subprocess
import sys

import pytest

from tokbench.cli.main import main

KEYS = {"model", "quant", "hardware", "engine", "context", "concurrency", "weights_bytes", "kv_bytes", "state_bytes",
        "overhead_bytes", "total_bytes", "memory_bytes", "usable_bytes", "fits", "decode_tps_ceiling", "decode_tps",
        "decode_tps_low", "decode_tps_high", "aggregate_decode_tps", "prefill_tps"}


def _json(capsys, *argv):
    assert main(["plan", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_seed_command_prints_both_tables_derivation_and_disagreements(capsys):
    assert main(["plan", "qwen3.5-397b-a17b", "--hardware", "m3-ultra-80c:256,m3-ultra-80c:512", "--context", "128k"]) == 0
    out = capsys.readouterr().out
    for text in ("Quantization", "Model Size", "+ KV (128K ctx)", "Fits m3-ultra-80c:256?", "Fits m3-ultra-80c:512?",
                 "Config", "Est. tok/s", "Notes", "30,720 B/token", "186.3 MiB", "192GB", "Recurrent state",
                 "tok/s 'optimized'"):
        assert text in out, text


def test_json_rows_have_the_issue_keys(capsys):
    doc = _json(capsys, "qwen3.5-397b-a17b", "--hardware", "m3-ultra-80c:256,m3-ultra-80c:512", "--context", "128k")
    assert len(doc["rows"]) == 8  # 4 default quants x 2 machines
    for row in doc["rows"]:
        assert KEYS <= set(row)
    r = doc["rows"][0]
    assert r["context"] == 131072 and r["kv_bytes"] == 30_720 * 131072
    assert r["total_bytes"] == r["weights_bytes"] + r["kv_bytes"] + r["state_bytes"] + r["overhead_bytes"]


def test_without_hardware_speed_fields_are_null(capsys):
    doc = _json(capsys, "llama-3.1-8b", "--quant", "Q4_K_M,Q8_0", "--context", "8K")
    assert [r["quant"] for r in doc["rows"]] == ["Q4_K_M", "Q8_0"]
    assert all(r["hardware"] is None and r["decode_tps"] is None and r["prefill_tps"] is None for r in doc["rows"])


def test_concurrency_engine_and_kv_type(capsys):
    doc = _json(capsys, "qwen3-30b-a3b", "--hardware", "h100-sxm", "--quant", "Q4_K_M", "--engine", "vllm",
                "--concurrency", "8", "--kv-type", "q8_0", "--context", "32768")
    r = doc["rows"][0]
    assert r["engine"] == "vllm" and r["kv_type"] == "q8_0" and r["concurrency"] == 8
    assert r["aggregate_decode_tps"] > r["decode_tps"] > r["per_stream_decode_tps"]


def test_sweep_workload_gives_the_per_stream_figure_the_bench_measures(capsys):
    from tokbench.plan import estimate

    argv = ("llama-3.1-8b", "--hardware", "h200", "--quant", "F16", "--engine", "llama.cpp-server", "--context", "576",
            "--concurrency", "8")
    step = _json(capsys, *argv)["rows"][0]
    assert step["per_stream_decode_tps"] == step["step_decode_tps"]  # no workload: the rate between tokens
    sweep = _json(capsys, *argv, "--prompt-tokens", "512", "--requests", "16")["rows"][0]
    want = estimate("llama-3.1-8b", "F16", "h200", "llama.cpp-server", context=576, concurrency=8, prompt_tokens=512,
                    gen_tokens=128, requests=16).per_stream_decode_tps
    assert sweep["per_stream_decode_tps"] == pytest.approx(want, rel=1e-9)
    assert sweep["per_stream_decode_tps"] < sweep["step_decode_tps"]  # others' prompts stall a stream's span
    assert any("closed-loop sweep of 16 requests (512-token prompts, 128 generated)" in n for n in sweep["notes"])


def test_with_companions_reduce_free_memory(capsys):
    alone = _json(capsys, "qwen3.5-397b-a17b", "--hardware", "m3-ultra-80c:512", "--quant", "IQ4_XS")["rows"][0]
    both = _json(capsys, "qwen3.5-397b-a17b", "--hardware", "m3-ultra-80c:512", "--quant", "IQ4_XS",
                 "--with", "qwen3-30b-a3b:Q4_K_M:32k", "--with", "qwen2.5-7b:Q8_0")
    other = sum(c["total_bytes"] for c in both["with"])
    assert both["rows"][0]["free_bytes"] == alone["free_bytes"] - other
    assert both["with"][0]["context"] == 32768


def test_min_tps_ranks_fitting_options(capsys):
    doc = _json(capsys, "--hardware", "m3-ultra-80c:256", "--min-tps", "50", "--context", "128k")
    assert doc["rows"]
    assert all(r["fits"] and r["decode_tps"] >= 50 for r in doc["rows"])
    params = [r["n_params"] for r in doc["rows"]]
    assert params == sorted(params, reverse=True)


def test_raised_gpu_limit_changes_the_verdict(capsys):
    base = _json(capsys, "qwen3.5-397b-a17b", "--hardware", "m3-ultra-80c:256", "--quant", "IQ4_XS", "--context", "128k")
    raised = _json(capsys, "qwen3.5-397b-a17b", "--hardware", "m3-ultra-80c:256", "--quant", "IQ4_XS",
                   "--context", "128k", "--gpu-limit-gb", "240")
    assert not base["rows"][0]["fits"] and raised["rows"][0]["fits"]


@pytest.mark.parametrize("argv,needle", [
    (["qwen3.5-397b", "--hardware", "m3-ultra-80c"], "qwen3.5-397b-a17b"),
    (["llama-3.1-8b", "--hardware", "m3-ultra"], "ambiguous; choose one of: m3-ultra-60c, m3-ultra-80c"),
    (["llama-3.1-8b", "--hardware", "h100"], "ambiguous; choose one of: h100-pcie, h100-sxm"),
    (["llama-3.1-8b", "--hardware", "m3-ultre-80c"], "m3-ultra-80c"),
    (["llama-3.1-8b", "--quant", "Q4_K_X"], "Q4_K_M"),
    (["llama-3.1-8b", "--engine", "lama.cpp"], "llama.cpp"),
    (["llama-3.1-8b", "--kv-type", "q8"], "q8_0"),
    (["llama-3.1-8b", "--context", "lots"], "128K"),
    (["llama-3.1-8b", "--hardware", "m3-ultra-80c:192"], "96, 256, 512"),
    (["llama-3.1-8b", "--with", "qwen2.5-7b"], "MODEL:QUANT"),
    (["--hardware", "m3-ultra-80c"], "--min-tps"),
    (["llama-3.1-8b", "--concurrency", "8", "--prompt-tokens", "0"], "--prompt-tokens must be at least 1"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, needle):
    assert main(["plan", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err


def test_truncated_gguf_and_bad_config_exit_2(tmp_path, capsys):
    from tokbench.synth import DEFAULT_SPEC, synthesize

    good = synthesize(DEFAULT_SPEC, "Q8_0", tmp_path / "m.gguf", vocab=DEFAULT_SPEC.vocab)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(good.read_bytes()[:300])
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"not a gguf at all" * 10)
    cfg = tmp_path / "config.json"
    cfg.write_text('{"model_type": "llama", "hidden_size": 40')
    for path in (bad, garbage, cfg):
        assert main(["plan", str(path), "--hardware", "m4-max-40c"]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "Traceback" not in err
    # The intact file plans with its own types.
    doc = _json(capsys, str(good), "--hardware", "m4-max-40c")
    assert doc["rows"][0]["quant"] == "native"


def test_plan_command_does_not_import_engines_or_numpy():
    # Nor the cluster module for single machines (about 0.1 s of CPU of plan's cold start on the 2-core VM).
    code = ("import sys; from tokbench.cli.main import main; import io, contextlib;"
            "f = io.StringIO();\nwith contextlib.redirect_stdout(f): main(['plan','llama-3.1-8b','--json',"
            "'--hardware','m3-ultra-80c:256,h100-sxm'])\n"
            "bad = [m for m in sys.modules if m.startswith(('numpy', 'tokbench.engines', 'llama_cpp', 'mlx', 'rich',"
            " 'tokbench.plan.cluster'))];"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("argv,needle", [
    # The issue's plans for things that cannot run, or not what was asked.
    (["llama-3.1-8b", "--engine", "mlx", "--hardware", "h100-sxm"], "mlx does not run on nvidia hardware"),
    (["llama-3.1-8b", "--engine", "vllm", "--quant", "mlx-4bit"], "mlx-4bit: vllm does not load mlx weights"),
    (["llama-3.1-8b", "--engine", "sglang", "--quant", "Q4_K_M"], "sglang does not load gguf weights"),
    (["llama-3.1-8b", "--context", "10M"], "past llama-3.1-8b's maximum of 128K tokens; pass --extrapolate"),
    (["qwen2.5-7b", "--context", "64k", "--hardware", "h100-sxm"], "maximum of 32K"),
    (["llama-3.1-8b", "--depth", "64k", "--context", "4k"], "--depth 64K is past --context 4K"),
    (["llama-3.1-8b", "--quant", "Q4_K_M,mlx-4bit"], "mixes MLX presets (mlx-4bit) with llama.cpp ones"),
    (["llama-3.1-8b", "--with", "qwen2.5-7b:mlx-4bit", "--engine", "llama.cpp"], "mlx-4bit: llama.cpp does not load"),
    (["--hardware", "m3-ultra-80c", "--min-tps", "10", "--depth", "8k"], "--depth applies to one MODEL"),
])
def test_refused_combinations_one_line(capsys, argv, needle):
    assert main(["plan", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err, err


def test_extrapolate_plans_past_the_maximum_and_says_so(capsys):
    doc = _json(capsys, "llama-3.1-8b", "--context", "1M", "--extrapolate", "--quant", "Q4_K_M")
    r = doc["rows"][0]
    assert r["context"] == 1 << 20 and any("past llama-3.1-8b's maximum" in n for n in r["notes"])
    assert main(["plan", "llama-3.1-8b", "--context", "1M", "--extrapolate", "--quant", "Q4_K_M"]) == 0
    assert "Note: context 1024K is past llama-3.1-8b's maximum of 128K" in capsys.readouterr().out


def test_depth_label_and_json_agree_with_what_was_computed(capsys):
    deep = _json(capsys, "llama-3.1-8b", "--depth", "64k", "--hardware", "h100-sxm", "--quant", "Q4_K_M")["rows"][0]
    assert (deep["context"], deep["depth"]) == (65536, 65536)  # --depth alone sets the context
    at4k = _json(capsys, "llama-3.1-8b", "--context", "64k", "--depth", "4k", "--hardware", "h100-sxm",
                 "--quant", "Q4_K_M")["rows"][0]
    assert at4k["depth"] == 4096 and at4k["decode_tps"] > deep["decode_tps"]
    assert main(["plan", "llama-3.1-8b", "--context", "64k", "--depth", "4k", "--hardware", "h100-sxm",
                 "--quant", "Q4_K_M"]) == 0
    out = capsys.readouterr().out
    assert "Decode speed at 4K depth, single stream" in out and "at 4K;" in out and "at 64K;" not in out


def test_default_context_is_capped_at_a_small_models_maximum(tmp_path, capsys):
    from dataclasses import replace

    from tokbench.synth import DEFAULT_SPEC, synthesize

    small = synthesize(replace(DEFAULT_SPEC, context_length=2048), "Q8_0", tmp_path / "m.gguf", vocab=DEFAULT_SPEC.vocab)
    assert _json(capsys, str(small))["rows"][0]["context"] == 2048


def test_concurrency_columns_say_what_they_hold(capsys):
    assert main(["plan", "llama-3.1-8b", "--hardware", "h100-sxm", "--quant", "Q4_K_M", "--concurrency", "8"]) == 0
    out = capsys.readouterr().out
    doc = _json(capsys, "llama-3.1-8b", "--hardware", "h100-sxm", "--quant", "Q4_K_M", "--concurrency", "8")["rows"][0]
    assert "Est. tok/s (1 stream)" in out and "Per stream at 8" in out and "Aggregate at 8" in out
    row = next(line for line in out.splitlines() if line.startswith("│ h100-sxm:80"))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[3] == f"{doc['per_stream_decode_tps']:.0f}" and cells[4] == f"{doc['aggregate_decode_tps']:.0f}"


def test_mlx_directory_carries_its_quant_and_engine(tmp_path, capsys):
    from tokbench.modelspec import load_spec
    from tokbench.synth import synthesize

    spec = load_spec("llama-3.1-8b")
    out = synthesize(spec, "mlx-4bit", tmp_path / "m", scale_layers=2, scale_width=0.125)
    r = _json(capsys, str(out), "--hardware", "m4-max-40c")["rows"][0]
    assert (r["quant"], r["engine"]) == ("mlx-4bit", "mlx")
    assert main(["plan", str(out), "--hardware", "h100-sxm"]) == 2  # MLX does not run on NVIDIA GPUs
    assert "mlx does not run on nvidia" in capsys.readouterr().err
    # A llama.cpp preset of the same architecture (a conversion) plans on llama.cpp.
    assert _json(capsys, str(out), "--quant", "Q4_K_M")["rows"][0]["engine"] == "llama.cpp"


def test_mlx_quant_picks_the_mlx_engine(capsys):
    r = _json(capsys, "llama-3.1-8b", "--quant", "mlx-4bit", "--hardware", "m4-max-40c")["rows"][0]
    assert r["engine"] == "mlx"


def test_min_tps_leaves_out_models_past_their_maximum(capsys):
    doc = _json(capsys, "--hardware", "h200", "--min-tps", "5", "--context", "128k")
    assert {"qwen2.5-7b", "qwen3-30b-a3b"} <= {x["model"] for x in doc["left_out"]}
    assert not {"qwen2.5-7b", "qwen3-30b-a3b"} & {r["model"] for r in doc["rows"]}


def test_hardware_host_is_the_probed_machine(capsys):
    """The real probe (a bandwidth measurement of about a second): the label hw probe prints plans."""
    from tokbench.catalog.hardware import get_hardware

    host = get_hardware("host")
    r = _json(capsys, "llama-3.1-8b", "--hardware", f"host,{host.label}", "--quant", "Q4_K_M")["rows"]
    assert [x["hardware"] for x in r] == [host.label, host.label] and r[0]["decode_tps"] > 0
