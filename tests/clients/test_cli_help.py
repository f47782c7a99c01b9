"""Every command's ``--help``: flags read as flags (``--json``), never as ``--json <bool>``."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.core import TyperOption
from typer.testing import CliRunner

from server.cli import app


def command_paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    # typer carries its own copy of click: a group is whatever has subcommands.
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        paths += command_paths(sub, (*path, name))
    return paths


COMMANDS = command_paths(typer.main.get_command(app))


def test_the_adapter_still_finds_what_it_borrows() -> None:
    # clients/cli/typer_help.py replaces this method; without it the help shows types again.
    assert callable(getattr(TyperOption, "display_type_rich", None))


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "studyroom")
def test_help_shows_flags_without_a_type(path: tuple[str, ...]) -> None:
    shown = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert shown.exit_code == 0, shown.output
    assert "<bool>" not in shown.output and "--help" in shown.output


def test_the_main_commands_are_all_there() -> None:
    wanted = {
        ("members", "list"),
        ("members", "remove"),
        ("members", "role"),
        ("sessions", "leave"),
        ("sessions", "set"),
        ("sessions", "rotate-code"),
        ("delete-account",),
        ("topics",),
        ("goals",),
    }
    assert wanted <= set(COMMANDS)


def test_a_flag_pair_reads_as_both_flags() -> None:
    shown = CliRunner().invoke(
        app, ["sessions", "set", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"}
    )
    (line,) = [row for row in shown.output.splitlines() if "--lock" in row]
    assert "--unlock" in line and "<" not in line
