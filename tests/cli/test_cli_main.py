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


def test_global_options_before_or_after_the_command(tmp_path, capsys, monkeypatch):
    import json

    monkeypatch.setenv("TOKBENCH_DB", str(tmp_path / "env.db"))
    db = str(tmp_path / "flag.db")
    for argv in (["--db", db, "runs", "--json"], ["runs", "--json", "--db", db], ["--json", "--db", db, "runs"],
                 ["--db", db, "--json", "runs", "--db", db]):
        assert main(argv) == 0, argv
        assert json.loads(capsys.readouterr().out)["db"] == db
    assert main(["--json", "hw", "list"]) == 0 and json.loads(capsys.readouterr().out)["hardware"]
    assert main(["--json", "db", "path"]) == 0 and json.loads(capsys.readouterr().out)["path"].endswith("env.db")
    for argv, needle in ((["--db", db, "plan", "llama-3.1-8b"], "--db does not apply to 'plan'"),
                         (["--db", db, "runs", "--db", "other.db"], "--db given twice"),
                         (["--json", "export", "x", "--format", "csv"], "disagree")):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "flag.db").exists() and not (tmp_path / "env.db").exists()


def test_help_shows_defaults(capsys):
    import pytest

    from tokbench.cli.main import build_parser

    parser = build_parser()
    for argv, needles in ((["plan"], ["(default 1)", "(default f16)"]),
                          (["report"], []), (["export"], ["(default json)"]),
                          (["synth"], ["(same seed, same bytes; default 0)"]),
                          (["compare"], []), (["db"], []), (["runs"], [])):
        with pytest.raises(SystemExit):
            parser.parse_args([*argv, "--help"])
        out = capsys.readouterr().out
        assert "(default: None)" not in out and "(default: False)" not in out, argv
        for n in needles:
            assert n in out, (argv, n)
    with pytest.raises(SystemExit):
        parser.parse_args(["hw", "probe", "--help"])
    with pytest.raises(SystemExit):
        parser.parse_args(["import", "--help"])
    capsys.readouterr()


def test_defaults_not_in_the_help_text_are_added():
    import argparse

    from tokbench.cli.main import _Parser

    p = _Parser(prog="x")
    p.add_argument("--n", type=int, default=3, help="how many")
    p.add_argument("--m", type=int, default=3, help="how many (default 3)")
    p.add_argument("--flag", action="store_true", help="a flag")
    text = p.format_help()
    assert "how many (default: 3)" in text and "how many (default 3)" in text and "default: False" not in text
    assert isinstance(p, argparse.ArgumentParser)
