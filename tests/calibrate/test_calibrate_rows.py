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
