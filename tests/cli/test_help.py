"""The help of every command of every CLI renders, keeps its bracketed text, and has a
one-line description and an example."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

import aurora_py.cli
from core.cli import cli_app

BRACKETS = re.compile(r"\[[^\[\]]*\]")
WIDE = {"COLUMNS": "1000"}  # one help line per option: no wrapping to undo before comparing


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, (*path, name))


def every_command() -> list[tuple[str, typer.Typer, tuple[str, ...], Any]]:
    found = []
    for prog, app in (("trireme", cli_app()), ("aurora", aurora_py.cli.app)):
        found += [(prog, app, path, command) for path, command in walk(get_command(app))]
    return found


COMMANDS = every_command()


def flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def test_every_cli_has_its_commands() -> None:
    paths = {(prog, *path) for prog, _, path, _ in COMMANDS}
    for expected in [("trireme", "serve"), ("trireme", "lb", "run"), ("trireme", "marathon", "app", "add"),
                     ("trireme", "chronos", "job", "history"), ("trireme", "aurora", "update", "list"),
                     ("aurora", "job", "kill"), ("aurora", "task", "status")]:
        assert expected in paths
    assert len(paths) > 60


@pytest.mark.parametrize(("prog", "app", "path", "command"), COMMANDS,
                         ids=[" ".join((prog, *path)) for prog, _, path, _ in COMMANDS])
def test_help_renders_with_brackets_a_description_and_an_example(prog: str, app: typer.Typer, path: tuple[str, ...],
                                                                 command: Any) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name=prog, env=WIDE)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 0, result.output
    page = flat(result.output)
    texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
    for text in texts:
        for bracketed in BRACKETS.findall(text):
            assert flat(bracketed) in page, f"{bracketed!r} is missing from the help of {' '.join(path)}"
    description = (command.help or "").strip().splitlines()
    assert description and description[0].strip(), f"{' '.join(path)} has no description"
    if not hasattr(command, "commands"):
        examples = re.findall(r"Example: ((?:trireme|aurora) [^\n]+)", result.output)
        assert examples, f"{' '.join((prog, *path))} has no example"
        assert " ".join(path[-2:]) in examples[0], examples[0]


def options_of(command: Any) -> set[str]:
    return {opt for p in command.params for opt in getattr(p, "opts", [])}


def test_every_show_list_and_status_command_offers_json() -> None:
    showing = [(prog, path, command) for prog, _, path, command in COMMANDS
               if path and path[-1] in ("show", "list", "status", "info", "history", "versions", "stats", "get",
                                        "inspect")]
    assert len(showing) > 15
    for prog, path, command in showing:
        assert "--json" in options_of(command), f"{' '.join((prog, *path))} has no --json"


def test_every_watch_has_a_timeout() -> None:
    watching = [(prog, path, command) for prog, _, path, command in COMMANDS if "--watch" in options_of(command)]
    assert len(watching) >= 9
    for prog, path, command in watching:
        timeout = next(p for p in command.params if "--timeout" in getattr(p, "opts", []))
        assert timeout.default >= 600, f"{' '.join((prog, *path))}: --timeout {timeout.default} is not generous"
