"""The terminal room's screen, replayed on a small virtual terminal: what is being typed
survives lines arriving, and an answer taller than the window is in the scrollback once."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text

from clients.cli.chat.screen import Screen, console_renderer, tail_to_fit
from clients.cli.chat.stdin import LineEditor
from clients.cli.chat.views import LiveView
from tests.clients.vt import VirtualTerminal

PROMPT = "> "


def terminal(columns: int = 40, rows: int = 10) -> tuple[VirtualTerminal, Screen, LiveView]:
    vt = VirtualTerminal(columns, rows)
    # A real console, rendering without colours into what the screen writes to the terminal.
    console = Console(file=io.StringIO(), width=columns, color_system=None, force_terminal=True)
    screen = Screen(vt, console_renderer(console), prompt=PROMPT)
    return vt, screen, LiveView(console, screen)


def test_a_line_arriving_leaves_the_half_typed_input_whole_below_it() -> None:
    vt, screen, view = terminal()
    view.line(Text("welcome"))
    screen.set_typed("hel")
    view.line(Text("bob: hi"))
    assert vt.transcript() == ["welcome", "bob: hi", "> hel"]
    assert (vt.row, vt.column) == (2, len("> hel"))
    screen.set_typed("hello")
    view.line(Text("bob: are you there?"))
    assert vt.transcript() == ["welcome", "bob: hi", "bob: are you there?", "> hello"]


def test_a_long_input_line_shows_its_end_on_one_row() -> None:
    vt, screen, view = terminal(columns=20)
    screen.set_typed("abcdefghij" * 5)
    view.line(Text("bob: hi"))
    assert vt.transcript() == ["bob: hi", "…" + ("abcdefghij" * 5)[-18:]]
    assert tail_to_fit("short", 10) == "short"
    # Wide characters count twice: the row still fits.
    assert tail_to_fit("漢字" * 10, 9) == "…漢字漢字"


def test_a_tall_answer_is_in_the_scrollback_once_with_the_input_line_below_it() -> None:
    vt, screen, view = terminal(columns=40, rows=8)
    screen.set_typed("half typed")
    paragraphs = [f"point number {n} of the answer." for n in range(1, 25)]
    answer = "\n\n".join(paragraphs)
    view.turn_started("t1", "tutor → ada")
    so_far = ""
    for word in answer.split(" "):
        piece = word if not so_far else " " + word
        so_far += piece
        view.turn_delta("t1", "tutor → ada", piece, so_far)
        if so_far.endswith("point number 12 of"):
            view.line(Text("bob: long one"))
    view.turn_finished("t1", "tutor → ada", answer, so_far, "sources: notes.md")
    seen = vt.transcript()
    for paragraph in paragraphs:
        assert sum(paragraph in row for row in seen) == 1, (paragraph, seen)
    assert sum("tutor → ada" in row for row in seen) == 1
    assert sum("sources: notes.md" in row for row in seen) == 1
    assert sum("bob: long one" in row for row in seen) == 1
    assert seen[-1] == "> half typed"
    # The finished panel closes on the row above the input line.
    assert seen[-2].startswith("╰") and seen[-2].rstrip().endswith("╯")


def test_an_answer_that_fits_is_redrawn_in_place_then_printed_once() -> None:
    vt, _screen, view = terminal(columns=40, rows=12)
    view.turn_started("t1", "tutor → ada")
    view.turn_delta("t1", "tutor → ada", "**Trees**", "**Trees**")
    view.turn_delta("t1", "tutor → ada", " have no cycles.", "**Trees** have no cycles.")
    view.turn_finished("t1", "tutor → ada", "**Trees** have no cycles.", "", "")
    seen = vt.transcript()
    assert seen[0].startswith("╭─ tutor → ada ─")
    (trees,) = [row for row in seen if "Trees" in row]
    # Markdown rendered: the emphasis markers are gone, the words stay.
    assert trees.startswith("│ Trees have no cycles. ") and trees.endswith("│")
    assert seen[-1] == ">"  # the prompt, trailing space dropped
    view.close()
    assert vt.transcript() == seen[:-1]


@pytest.mark.parametrize(
    ("keys", "entered", "left"),
    [
        ("hello\r", ["hello"], ""),
        ("hel\x7flo\n", ["helo"], ""),
        ("one\rtwo\rthr", ["one", "two"], "thr"),
        ("gone\x15kept", [], "kept"),
        ("ask the tutor\x17", [], "ask the "),
        ("up\x1b[A\x1b[1;5Cright\x1bOPkey", [], "uprightkey"),
        ("\x04", [None], ""),
        ("not empty\x04", [], "not empty"),
        ("tab\there é", [], "tab here é"),
        ("bell\x07", [], "bell"),
    ],
)
def test_the_line_editor(keys: str, entered: list[str | None], left: str) -> None:
    editor = LineEditor()
    assert editor.feed(keys) == entered
    assert editor.text == left


def test_an_escape_sequence_split_across_reads_is_still_swallowed() -> None:
    editor = LineEditor()
    assert (
        editor.feed("a\x1b[") == [] and editor.feed("1;2") == [] and editor.feed("Db\r") == ["ab"]
    )
