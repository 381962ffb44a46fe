"""Every command that writes a file a user named refuses to destroy what it did not create.

synth --out (the issue's four cases), report --out, export --out and db backup --out: an existing
file or a non-empty directory is refused with one line and left byte for byte as it was; --force
replaces only the command's own kind of output; nothing temporary is left behind.
"""

from __future__ import annotations

import json

import pytest

from tb_cli_store import run_cli, seed

SMALL = ["--scale-layers", "1", "--scale-width", "0.0625"]


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _refused(capsys, *argv, match: str):
    code, out, err = run_cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err and match in lines[0], (code, err)
    return lines[0]


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOKBENCH_DB", str(tmp_path / "cli.db"))
    return tmp_path


def test_issue_synth_cases(work, capsys):
    hf = work / "my_hf_model_dir"
    hf.mkdir()
    (hf / "config.json").write_text('{"model_type": "llama"}')
    (work / "notes.txt").write_text("notes")
    (work / "models").mkdir()
    before = _tree(work)
    # synth --quant mlx-4bit --out ./my_hf_model_dir: replaced config.json before; refused now, even forced.
    _refused(capsys, "synth", "llama-3.1-8b", "--quant", "mlx-4bit", "--out", str(hf), *SMALL, match="not empty")
    _refused(capsys, "synth", "llama-3.1-8b", "--quant", "mlx-4bit", "--out", str(hf), "--force", *SMALL,
             match="did not write")
    # --format mlx --out notes.txt: a FileExistsError traceback before.
    _refused(capsys, "synth", "llama-3.1-8b", "--quant", "mlx-4bit", "--format", "mlx", "--out", "notes.txt", *SMALL,
             match="is a file")
    assert _tree(work) == before
    # --out an existing directory (GGUF): an IsADirectoryError traceback before; now a file inside it.
    code, out, err = run_cli(capsys, "synth", "llama-3.1-8b", "--quant", "Q4_K_M", "--out", "models", "--json", *SMALL)
    doc = json.loads(out)
    assert code == 0 and doc["path"] == "models/llama-3.1-8b-L1-W0.0625-Q4_K_M.gguf" and doc["files"] == [
        "llama-3.1-8b-L1-W0.0625-Q4_K_M.gguf"]
    written = (work / doc["path"]).read_bytes()
    # An existing .gguf was overwritten without a word before.
    _refused(capsys, "synth", "llama-3.1-8b", "--quant", "Q8_0", "--out", doc["path"], *SMALL, match="--force")
    assert (work / doc["path"]).read_bytes() == written
    code, out, err = run_cli(capsys, "synth", "llama-3.1-8b", "--quant", "Q8_0", "--out", doc["path"], "--force", *SMALL)
    assert code == 0 and out.startswith("wrote models/") and (work / doc["path"]).read_bytes() != written
    assert sorted(p.name for p in work.iterdir()) == ["models", "my_hf_model_dir", "notes.txt"]


def test_synth_mlx_says_which_files_it_wrote(work, capsys):
    code, out, err = run_cli(capsys, "synth", "llama-3.1-8b", "--quant", "mlx-4bit", "--out", "m", *SMALL)
    assert code == 0
    assert out.startswith("wrote m (config.json, model.safetensors, tokenizer.json, tokenizer_config.json)")


def test_report_out(work, capsys):
    (work / "r.md").write_text("my report")
    _refused(capsys, "report", "--no-reference", "--out", "r.md", match="--force")
    assert (work / "r.md").read_text() == "my report"
    (work / "dir").mkdir()
    _refused(capsys, "report", "--no-reference", "--out", "dir", match="is a directory")
    code, _, err = run_cli(capsys, "report", "--no-reference", "--out", "r.md", "--force")
    assert code == 0 and err.startswith("replaced r.md") and (work / "r.md").read_text().startswith("# tokbench")
    assert sorted(p.name for p in work.iterdir()) == ["dir", "r.md"]  # no database created, no temporaries


def test_export_out(work, capsys):
    run = seed(work / "cli.db")
    (work / "e.json").write_text("keep")
    _refused(capsys, "export", run, "--out", "e.json", match="--force")
    assert (work / "e.json").read_text() == "keep"
    code, _, err = run_cli(capsys, "export", run, "--out", "e.json", "--force")
    assert code == 0 and "(replaced)" in err and json.loads((work / "e.json").read_text())["run"]["id"] == run
    code, _, err = run_cli(capsys, "export", run, "--out", "new.csv", "--format", "csv")
    assert code == 0 and (work / "new.csv").read_text().count("\n") == 4  # header + three requests


def test_db_backup_never_overwrites(work, capsys):
    seed(work / "cli.db")
    (work / "copy.db").write_text("not a backup")
    _refused(capsys, "db", "backup", "--out", "copy.db", match="exists")
    assert (work / "copy.db").read_text() == "not a backup"
    code, out, _ = run_cli(capsys, "db", "backup", "--out", "b.db", "--json")
    assert code == 0 and json.loads(out)["bytes"] == (work / "b.db").stat().st_size > 0
    assert not [p for p in work.iterdir() if p.name.startswith(".tokbench-tmp")]


@pytest.mark.parametrize("argv", [["report", "--run", "x"], ["validate", "--run", "x"], ["compare", "a", "b"],
                                  ["export", "x"], ["runs"], ["db", "check"]])
def test_reading_commands_never_create_a_database(work, capsys, argv):
    code, _, err = run_cli(capsys, *argv)
    assert code in (0, 2) and len(err.strip().splitlines()) <= 1
    assert not (work / "cli.db").exists()
