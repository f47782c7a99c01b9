"""The bottom of a terminal kept live: the line being typed, and the end of a streaming answer.

Everything else scrolls up as plain printed rows. The live zone is redrawn in place, so it must
never grow taller than the window: rows that have scrolled out of sight cannot be erased, and
redrawing them would leave a second copy in the scrollback. So every live row is cut to one
terminal row (one column short of the width, so the cursor never waits to wrap), and a
streaming answer taller than the window hands its top rows over to the scrollback for good,
keeping only its last rows live.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from rich.cells import cell_len, get_character_cell_size

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

# Up one row and clear it; the cursor's column does not matter after a clear.
UP_AND_CLEAR = "\x1b[1A\x1b[2K"
CLEAR_ROW = "\r\x1b[2K"
ELLIPSIS = "…"

# Renders something to rows of at most ``width`` cells (style codes included).
Render = Callable[["RenderableType", int], list[str]]


class Terminal(Protocol):
    def size(self) -> tuple[int, int]:
        """Columns and rows of the window, read anew each time (it may be resized)."""

    def write(self, text: str) -> None:
        """Write and flush."""


class ConsoleTerminal:
    """The terminal a rich console writes to."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def size(self) -> tuple[int, int]:
        width, height = self.console.size
        return width, height

    def write(self, text: str) -> None:
        self.console.file.write(text)
        self.console.file.flush()


def console_renderer(console: Console) -> Render:
    def render(renderable: RenderableType, width: int) -> list[str]:
        with console.capture() as captured:
            console.print(renderable, width=width)
        # Not splitlines(): it also breaks at characters a terminal shows on one row.
        return captured.get().split("\n")[:-1]

    return render


def tail_to_fit(text: str, width: int) -> str:
    """``text``, or its end after an ellipsis, in at most ``width`` cells: the cursor's side
    of a long typed line is the side the typist is looking at."""
    if cell_len(text) <= width:
        return text
    kept: list[str] = []
    room = width - cell_len(ELLIPSIS)
    for char in reversed(text):
        room -= get_character_cell_size(char)
        if room < 0:
            break
        kept.append(char)
    return ELLIPSIS + "".join(reversed(kept))


class Screen:
    """Prints rows above a live zone (streaming rows, then the input line) and redraws it.

    ``prompt`` is ``None`` when nothing is typed at this terminal (input from a pipe): the
    zone then holds only the streaming rows.
    """

    def __init__(self, terminal: Terminal, render: Render, prompt: str | None = None) -> None:
        self.terminal = terminal
        self.render = render
        self.prompt = prompt
        self.typed = ""
        self.live: list[str] = []
        self._drawn = 0

    def width(self) -> int:
        """Cells a live row may take."""
        return max(1, self.terminal.size()[0] - 1)

    def live_budget(self) -> int:
        """How many streaming rows fit below what has scrolled, above the input line."""
        rows = self.terminal.size()[1]
        return max(1, rows - 1 - (self.prompt is not None))

    def print(self, renderable: RenderableType) -> None:
        """Print for good above the live zone."""
        self.show(commit=self.render(renderable, self.terminal.size()[0]))

    def show(self, commit: Sequence[str] = (), live: list[str] | None = None) -> None:
        """Print ``commit`` for good, make ``live`` the streaming rows, redraw — in one write."""
        if live is not None:
            self.live = live
        out = self._erase()
        out += "".join(row + "\n" for row in commit)
        self.terminal.write(out + self._draw())

    def set_typed(self, typed: str) -> None:
        """The input line changed: only its own row is redrawn."""
        self.typed = typed
        if self.prompt is None:
            return
        if self._drawn == 0:
            self.terminal.write(self._draw())
            return
        self.terminal.write(CLEAR_ROW + self._input_row())

    def close(self) -> None:
        """Leave the terminal with no live zone, the cursor at the start of a row."""
        self.live = []
        self.terminal.write(self._erase())

    def _input_row(self) -> str:
        return tail_to_fit(f"{self.prompt}{self.typed}", self.width())

    def _rows(self) -> list[str]:
        width = self.width()
        rows = [row if cell_len(row) <= width else tail_to_fit(row, width) for row in self.live]
        if self.prompt is not None:
            rows.append(self._input_row())
        return rows

    def _erase(self) -> str:
        if self._drawn == 0:
            return ""
        out = CLEAR_ROW + UP_AND_CLEAR * (self._drawn - 1) + "\r"
        self._drawn = 0
        return out

    def _draw(self) -> str:
        rows = self._rows()
        self._drawn = len(rows)
        return "\n".join(rows)


class StreamingRows:
    """One answer as it streams: rows of its rendering that no longer fit the window are
    printed once and never redrawn; the rest stay live until the answer is done."""

    def __init__(self, screen: Screen, render: Callable[[str, str], RenderableType]) -> None:
        self.screen = screen
        self.render = render
        self.committed = 0

    def _rows(self, text: str, note: str = "") -> list[str]:
        return self.screen.render(self.render(text, note), self.screen.width())

    def show(self, text: str) -> None:
        rows = self._rows(text)
        keep = self.screen.live_budget()
        commit: list[str] = []
        if len(rows) - self.committed > keep:
            upto = len(rows) - keep
            commit = rows[self.committed : upto]
            self.committed = upto
        self.screen.show(commit=commit, live=rows[self.committed :])

    def finish(self, text: str, note: str) -> None:
        """The whole answer: whatever has not scrolled out yet is printed for good."""
        self.screen.show(commit=self._rows(text, note)[self.committed :], live=[])

    def abandon(self) -> None:
        """Keep what is on screen as it is (another answer takes the live zone)."""
        self.screen.show(commit=self.screen.live, live=[])
