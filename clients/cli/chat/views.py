"""Two ways to show a room: plain lines for pipes, and live panels for a terminal.

Both show the same lines; they differ in how a tutor answer appears while it streams. The
plain view writes each delta as it arrives, so a pipe (or a test) sees the answer grow; the
live view redraws a Markdown panel and prints it for good when the turn ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.panel import Panel
    from rich.text import Text


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
    """A Markdown panel redrawn as the answer streams, then printed whole when it ends."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live: Live | None = None
        self.turn_id: str | None = None

    def _panel(self, title: str, text: str, note: str = "") -> Panel:
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
        # While a live panel is shown, rich prints above it.
        self.console.print(text)

    def _start(self, turn_id: str, title: str) -> Live:
        from rich.live import Live

        self._stop()
        # Transient: the finished panel is printed once, whole, however tall it got.
        live = Live(self._panel(title, ""), console=self.console, transient=True)
        live.start()
        self.live, self.turn_id = live, turn_id
        return live

    def turn_started(self, turn_id: str, title: str) -> None:
        self._start(turn_id, title)

    def turn_delta(self, turn_id: str, title: str, delta: str, so_far: str) -> None:
        live = self.live if self.live and self.turn_id == turn_id else None
        (live or self._start(turn_id, title)).update(self._panel(title, so_far))

    def turn_finished(self, turn_id: str, title: str, final: str, shown: str, note: str) -> None:
        if self.turn_id == turn_id:
            self._stop()
        if final or shown or note:
            self.console.print(self._panel(title, final or shown, note))

    def _stop(self) -> None:
        if self.live is not None:
            self.live.stop()
        self.live = None
        self.turn_id = None

    def close(self) -> None:
        self._stop()
