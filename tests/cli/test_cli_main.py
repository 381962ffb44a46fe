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


def test_every_command_help_renders(capsys):
    import pytest

    from tokbench.cli.main import COMMANDS, build_parser

    parser = build_parser()
    names = [c.rstrip("_") for c in COMMANDS]
    with pytest.raises(SystemExit) as top:
        parser.parse_args(["--help"])
    assert top.value.code == 0
    for name in names:
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([name, "--help"])
        assert exc.value.code == 0, name
    out = capsys.readouterr().out
    assert all(n in out for n in names)
