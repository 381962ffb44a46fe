"""`tokbench hw list` and `tokbench hw probe` on this (Linux) machine."""

import json

from tokbench.cli.main import main


def test_hw_list_json_has_every_catalog_id(capsys):
    assert main(["hw", "list", "--json"]) == 0
    ids = {h["id"] for h in json.loads(capsys.readouterr().out)["hardware"]}
    assert {"m3-ultra-80c", "h100-sxm", "dgx-spark", "ryzen-ai-max-395"} <= ids


def test_hw_list_table(capsys):
    assert main(["hw", "list"]) == 0
    assert "m4-max-40c" in capsys.readouterr().out


def test_hw_probe_json_without_measurement(capsys):
    assert main(["hw", "probe", "--json", "--no-measure"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["memory_bytes"] > 0 and doc["cpu_count"] >= 1
    assert "bandwidth" not in doc and doc["hardware"]["kind"] in ("cpu", "nvidia", "apple")


def test_hw_without_subcommand_exits_2(capsys):
    assert main(["hw"]) == 2


def test_hw_list_through_a_pipe_keeps_every_id_whole():
    """Piped (80 columns by rich's default) the table cut 'ryzen-ai-max-395' to 'ryzen-ai-max-…'."""
    import subprocess
    import sys

    from tokbench.catalog.hardware import catalog

    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "60"}
    out = subprocess.run([sys.executable, "-m", "tokbench", "hw", "list"], capture_output=True, text=True,
                         check=True, env=env).stdout
    first_cells = {line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")}
    assert set(catalog()) <= first_cells and "…" not in out
