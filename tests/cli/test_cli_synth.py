"""`tokbench synth`: JSON result, human line, and exit 2 with one line for bad input."""

import json

from tokbench.cli.main import main


def test_synth_json(tmp_path, capsys):
    out = tmp_path / "m.gguf"
    rc = main(["synth", "qwen3-30b-a3b", "--quant", "Q4_K_M", "--out", str(out), "--scale-layers", "1",
               "--scale-width", "0.0625", "--vocab", "600", "--seed", "5", "--json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["path"] == str(out) and out.is_file() and doc["bytes"] == out.stat().st_size
    assert (doc["arch"], doc["n_layers"], doc["vocab"], doc["seed"], doc["format"]) == ("qwen3moe", 1, 600, 5, "gguf")


def test_synth_mlx_human_line(tmp_path, capsys):
    rc = main(["synth", "llama-3.1-8b", "--quant", "mlx-4bit", "--out", str(tmp_path / "d"), "--scale-layers", "1",
               "--scale-width", "0.0625"])
    assert rc == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("wrote ") and "(mlx, llama, mlx-4bit" in line
    assert (tmp_path / "d" / "config.json").is_file()


def test_bad_combination_exit_2_one_line(tmp_path, capsys):
    rc = main(["synth", "deepseek-v3", "--quant", "mlx-4bit", "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "supported" in err
    rc = main(["synth", "llama-3.1-8b", "--quant", "mlx-4bit", "--format", "gguf", "--out", str(tmp_path / "m.gguf")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "GGUF synthesis supports architectures" in err
    rc = main(["synth", "llama-3.1-8b", "--quant", "Q4_K_M", "--out", str(tmp_path / "m.gguf"), "--scale-layers", "99"])
    assert rc == 2 and "--scale-layers" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
