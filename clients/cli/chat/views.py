"""Two ways to show a room: plain lines for pipes, and live panels for a terminal.

Both show the same lines; they differ in how a tutor answer appears while it streams. The
plain view writes each delta as it arrives, so a pipe (or a test) sees the answer grow; the
live view redraws a Markdown panel at the bottom of the terminal, above the line being typed
(see screen.py), and prints it for good when the turn ends.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    from clients.cli.chat.screen import Screen, StreamingRows


class View(Protocol):
    def line(self, text: Text) -> None:
        """Print one finished line (or block) above anything still streaming."""

    def turn_started(self, turn_id: str, title: str) -> None:
        """The tutor started on an answer."""

    def turn_delta(self, turn_id: str, title: str, delta: str, so_far: str) -> None:
        """Show the next piece of a tutor answer; ``so_far`` includes ``delta``."""

    def turn_finished(self, turn_id: str, title: str, final: str, shown: str, note: str) -> None:
        """The answer is complete: ``final`` is its whole text, ``shown`` what was streamed."""

    def close(self) -> None: ...


class PlainView:
    """Lines and raw deltas on a plain stream; no cursor movement, no colour unless a TTY."""

    def __init__(self, console: Console) -> None:
        self.console = console
        # The turn whose answer is being written on the current, unfinished line.
        self.open_turn: str | None = None

    def _write(self, text: str) -> None:
        self.console.file.write(text)
        self.console.file.flush()

    def _end_open_line(self) -> None:
        if self.open_turn is not None:
            self._write("\n")
            self.open_turn = None

    def _begin(self, turn_id: str, title: str) -> None:
        self._end_open_line()
        self._write(f"{title}: ")
        self.open_turn = turn_id

    def line(self, text: Text) -> None:
        self._end_open_line()
        self.console.print(text)

    def turn_started(self, turn_id: str, title: str) -> None:
        # The line starts with the first delta: a start alone would leave it dangling.
        pass

    def turn_delta(self, turn_id: str, title: str, delta: str, so_far: str) -> None:
        if self.open_turn != turn_id:
            self._begin(turn_id, title if so_far == delta else f"{title} (continued)")
        self._write(delta)

    def turn_finished(self, turn_id: str, title: str, final: str, shown: str, note: str) -> None:
        if self.open_turn == turn_id and final.startswith(shown):
            self._write(final[len(shown) :])
        elif final and final != shown:
            # Missed the start, or deltas interleaved with other lines: show it whole.
            self._begin(turn_id, title)
            self._write(final)
        self._end_open_line()
        if note:
            self.console.print(note, style="dim")

    def close(self) -> None:
        self._end_open_line()


class LiveView:
    """A Markdown panel redrawn as the answer streams, above the line being typed.

    Drawn on a :class:`Screen`: an answer taller than the window scrolls its top rows out
    once, instead of being redrawn (and so copied) into the scrollback.
    """

    def __init__(self, console: Console, screen: Screen | None = None) -> None:
        from clients.cli.chat.screen import ConsoleTerminal, Screen, console_renderer

        self.console = console
        self.screen = screen or Screen(ConsoleTerminal(console), console_renderer(console))
        self.stream: StreamingRows | None = None
        self.turn_id: str | None = None

    @staticmethod
    def _panel(title: str, text: str, note: str = "") -> Panel:
        from rich.markdown import Markdown
        from rich.panel import Panel

        return Panel(
            Markdown(text or "…"),
            title=title,
            title_align="left",
            subtitle=note or None,
            subtitle_align="right",
            border_style="magenta",
        )

    def line(self, text: Text) -> None:
        self.screen.print(text)

    def _start(self, turn_id: str, title: str) -> StreamingRows:
        from clients.cli.chat.screen import StreamingRows

        self._stop()
        self.stream = StreamingRows(self.screen, partial(self._panel, title))
        self.turn_id = turn_id
        return self.stream

    def turn_started(self, turn_id: str, title: str) -> None:
        self._start(turn_id, title).show("")

    def turn_delta(self, turn_id: str, title: str, delta: str, so_far: str) -> None:
        stream = self.stream if self.stream and self.turn_id == turn_id else None
        (stream or self._start(turn_id, title)).show(so_far)

    def turn_finished(self, turn_id: str, title: str, final: str, shown: str, note: str) -> None:
        if self.stream is not None and self.turn_id == turn_id:
            self.stream.finish(final or shown, note)
            self.stream = self.turn_id = None
        elif final or shown or note:
            self.screen.print(self._panel(title, final or shown, note))

    def _stop(self) -> None:
        if self.stream is not None:
            self.stream.abandon()
        self.stream = self.turn_id = None

    def close(self) -> None:
        self._stop()
        self.screen.close()
