"""Usage errors: one ``error:`` line plus the usage hint, exit 2, never a traceback."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from lookalike.cli import main
from lookalike.cli.usage import click_error_types
from tests.conftest import REPO

USAGE_ERRORS = {
    "no arguments": ([], "Missing command"),
    "no subcommand": (["ab"], "Missing command"),
    "unknown command": (["nosuch"], "No such command 'nosuch'"),
    "missing argument": (["build"], "Missing argument"),
    "missing option": (["build", "shop"], "Missing option"),
    "unknown option": (["build", "shop", "--nosuch"], "No such option: --nosuch"),
    "bad integer": (["similar", "shop", "p1", "-k", "abc"], "Invalid value for '-k'"),
    # values click accepts but the options refuse: usage errors too, not failures (exit 1)
    "bad --expand": (
        ["build", "shop", "--catalog", "c.csv", "--expand", "bogus"],
        "expand must be none or dba",
    ),
    "bad --whiten": (
        ["build", "shop", "--catalog", "c.csv", "--whiten", "-1"],
        "whiten shrinkage must be in",
    ),
    "unknown --model": (
        ["build", "shop", "--catalog", "c.csv", "--model", "resnet9000"],
        "unknown model 'resnet9000'",
    ),
    "missing --model file": (
        ["build", "shop", "--catalog", "c.csv", "--model", "/nonexistent/model.onnx"],
        "ONNX model file not found",
    ),
    "bad --compare": (["evaluate", "shop", "--compare", "nosuch"], "bad --compare 'nosuch'"),
    "bad --mix": (["train", "shop", "--mix", "2"], "mix must be in (0, 1]"),
}


@pytest.mark.parametrize("argv,reason", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_error_is_one_line_and_exit_2(
    argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    handlers = list(logging.getLogger().handlers)
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert logging.getLogger().handlers == handlers  # refused before anything was set up
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    error_lines = [line for line in lines if line.startswith("error:")]
    assert len(error_lines) == 1 and reason in error_lines[0], err
    assert any(line.startswith("Usage:") for line in lines), err
    assert "--help" in lines[-1]
    assert "Traceback" not in err


def test_long_bad_value_is_quoted_short(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["similar", "shop", "p1", "-k", "9" * 5000 + "x"])
    assert stopped.value.code == 2
    error_line = next(line for line in capsys.readouterr().err.splitlines() if "error:" in line)
    assert len(error_line) < 300


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith("lookalike ")


def test_usage_error_classes_come_from_the_installed_typer() -> None:
    """The locked typer's own classes are among those caught (its vendored click or click)."""
    import typer

    probe = typer.Typer()

    @probe.command()
    def hello(count: int) -> None:
        """A one-command app whose argument we get wrong."""

    errors = click_error_types()
    assert errors.usage and errors.click and errors.abort
    with pytest.raises(errors.usage):
        probe(args=["abc"], standalone_mode=False)


def test_console_script_no_arguments_has_no_traceback() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "lookalike"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: Missing command")
    assert "Traceback" not in result.stderr + result.stdout
