import subprocess
import sys

from tokbench.cli.main import main


def test_help_lists_commands(capsys):
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_unknown_command_exits_2_with_one_line():
    r = subprocess.run([sys.executable, "-m", "tokbench", "no-such-command"], capture_output=True, text=True)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "invalid choice" in r.stderr
