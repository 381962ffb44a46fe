"""Row loading: which llama.cpp build era a published row belongs to."""

from tokbench.calibrate.rows import Row


def _row(engine_text: str, year: str) -> Row:
    return Row(hardware_id="cpu-m4-max-cpu", model_id="llama-3.1-8b", quant_id="Q4_K_M", engine_id="llama.cpp",
               metric="decode", depth=64, concurrency=1, tps=40.0, source="https://example.invalid/pr",
               extra={"engine_text": engine_text, "year": year})


def test_era_from_the_build_number_else_from_a_2026_date():
    assert _row("llama.cpp CPU (build 45c6ef730 (7058), 8 threads)", "2025").era == "current"
    assert _row("llama.cpp CPU (build 14b699ec (4384), 4 threads)", "2024").era == "2025"
    assert _row("llama.cpp CPU (b3441, 8 threads)", "2024").era == "2024"
    # No build printed: a 2026 measurement ran a build past b7000; an older one stays unknown.
    assert _row("llama.cpp CPU (build not stated, 8 threads)", "2026").era == "current"
    assert _row("llama.cpp CPU (build not stated, 8 threads)", "2025").era == "unknown"
    assert _row("llama.cpp CPU (build not stated, 8 threads)", "").era == "unknown"


def test_a_probed_host_row_is_a_current_build_unless_it_states_its_era(tmp_path):
    from tokbench.calibrate.rows import _cpu_host_rows

    head = ("hardware_id,cpu,cores,threads,bandwidth_gbs,fp16_tflops,clock_mhz,generation,model_id,quant_id,engine_id,"
            "metric,depth,concurrency,tokens_per_s,sd,n,role,date,build,era,command\n")
    common = "cpu-dev-vm-epyc-2c,AMD EPYC,2,2,19.57,0.13,2445,cpu-x86-avx2,llama-3.2-3b,Q4_0,llama.cpp,decode,16,1"
    f = tmp_path / "m.csv"
    f.write_text(head + f"{common},5.0,0.1,3,fit,2026-11-30,,,llama-bench\n"
                 + f"{common},4.0,0.1,3,fit,2026-11-30,\"4730faca, 2024-07\",2024,llama-bench\n")
    cur, old = _cpu_host_rows(f)
    assert (cur.era, old.era) == ("current", "2024")
    assert old.extra["threads"] == 2 and "4730faca" in old.extra["engine_text"]
    assert cur.key != old.key  # both builds' rows survive de-duplication


def test_mlx_rows_have_no_llama_cpp_build_era():
    # Build eras are llama.cpp's kernel history: an MLX row with no build printed is not an "unknown" llama.cpp.
    mlx = Row(hardware_id="m4-max-40c", model_id="qwen3-4b", quant_id="mlx-4bit", engine_id="mlx", metric="decode",
              depth=2112, concurrency=1, tps=134.5, source="ml-explore/mlx-lm BENCHMARKS.md",
              extra={"engine_text": "mlx-lm", "year": "2025"})
    assert mlx.era == "current"
    assert _row("llama.cpp Metal (build not stated)", "2025").era == "unknown"


def test_the_h100_campaigns_server_sweeps_are_a_current_build_with_flash_attention():
    # Their run ids carry the date (2026-11-25): llama-cpp-python 0.3.36's llama-server, flash attention on by default.
    from tokbench.calibrate.rows import ROOT, SWEEP_FILE, _sweep_rows

    rows = _sweep_rows(ROOT / SWEEP_FILE)
    assert rows and all(r.era == "current" and r.flash_attn for r in rows)
