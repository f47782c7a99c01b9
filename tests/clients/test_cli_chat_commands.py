"""What a line typed in ``studyroom chat`` means."""

from __future__ import annotations

import pytest

from clients.cli.chat.commands import (
    Answer,
    Ask,
    Command,
    Help,
    Invalid,
    Quit,
    Say,
    Stop,
    Who,
    parse_line,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("hello there", Say("hello there")),
        ("  padded  \n", Say("padded")),
        ("? what is a monad", Ask("what is a monad")),
        ("?why", Ask("why")),
        ("/ask what is a tree", Ask("what is a tree")),
        ("/stop", Stop()),
        ("/cancel", Stop()),
        ("/answer 2", Answer(2)),
        ("/ANSWER 3", Answer(3)),
        ("/who", Who()),
        ("/help", Help()),
        ("/quit", Quit()),
        ("/exit", Quit()),
        ("//not a command", Say("/not a command")),
        ("2", Say("2")),
    ],
)
def test_lines_without_an_open_quiz(line: str, expected: Command) -> None:
    assert parse_line(line) == expected


def test_blank_lines_do_nothing() -> None:
    assert parse_line("") is None
    assert parse_line("   \t") is None


def test_a_bare_number_answers_only_while_a_quiz_is_open() -> None:
    assert parse_line("2", quiz_open=True) == Answer(2)
    assert parse_line("2 apples", quiz_open=True) == Say("2 apples")
    assert parse_line("²", quiz_open=True) == Say("²")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("?", "type the question after it"),
        ("/ask   ", "type the question after it"),
        ("/answer", "/answer needs the number of a choice"),
        ("/answer two", "/answer needs the number of a choice"),
        ("/answer -1", "/answer needs the number of a choice"),
        ("/dance", "unknown command /dance: type /help for the list"),
    ],
)
def test_mistakes_are_explained(line: str, message: str) -> None:
    parsed = parse_line(line, quiz_open=True)
    assert isinstance(parsed, Invalid) and message in parsed.message
