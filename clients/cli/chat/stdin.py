"""Lines typed on stdin, for an asyncio program: as they come from a pipe or a file, or
typed at a terminal with the line kept by the program (see :class:`KeyboardLines`).

A daemon thread reads the raw file descriptor: a read blocked on a quiet terminal or pipe then
holds up neither the event loop nor the exit (a buffered ``sys.stdin`` would hold its lock
through interpreter shutdown), and it works for terminals, pipes and redirected files alike.
"""

from __future__ import annotations

import asyncio
import atexit
import codecs
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

READ_BYTES = 64 * 1024


class Lines(Protocol):
    async def next(self) -> str | None:
        """The next line typed, without its newline; ``None`` at the end of input."""

    def close(self) -> None: ...


class StdinLines:
    """``await lines.next()`` gives the next line without its newline, ``None`` at the end."""

    def __init__(self, fd: int | None = None, encoding: str | None = None) -> None:
        self._fd = sys.stdin.fileno() if fd is None else fd
        self._encoding = encoding or getattr(sys.stdin, "encoding", None) or "utf-8"
        self._loop = asyncio.get_running_loop()
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._thread = threading.Thread(target=self._read, name="stdin-lines", daemon=True)
        self._thread.start()

    async def next(self) -> str | None:
        return await self._lines.get()

    def _post(self, line: str | None) -> None:
        # RuntimeError: the loop is closed, the program is leaving and nobody reads any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._lines.put_nowait, line)

    def _read(self) -> None:
        decoder = codecs.getincrementaldecoder(self._encoding)(errors="replace")
        pending = ""
        try:
            while chunk := os.read(self._fd, READ_BYTES):
                pending += decoder.decode(chunk)
                *lines, pending = pending.split("\n")
                for line in lines:
                    self._post(line.removesuffix("\r"))
            pending += decoder.decode(b"", final=True)
        except OSError:
            pass  # stdin closed under us: treat as the end of input
        if pending:
            self._post(pending.removesuffix("\r"))
        self._post(None)

    def close(self) -> None:
        """Nothing to give back: the reading thread dies with the program."""


# Keys of a line being typed; the terminal's own editing is off while the room owns the screen.
ENTER = frozenset("\r\n")
ERASE = frozenset("\x7f\x08")
ERASE_LINE = "\x15"  # Ctrl-U
ERASE_WORD = "\x17"  # Ctrl-W
END_OF_INPUT = "\x04"  # Ctrl-D
ESCAPE = "\x1b"


class LineEditor:
    """The line being typed: characters in, finished lines out. Arrow keys and other escape
    sequences are swallowed (there is no cursor to move: text goes at the end)."""

    def __init__(self) -> None:
        self.text = ""
        self._escape: str | None = None

    def feed(self, chars: str) -> list[str | None]:
        """What ``chars`` finished: each line entered, and ``None`` for end of input."""
        done: list[str | None] = []
        for char in chars:
            if self._escape is not None:
                self._in_escape(char)
            elif char == ESCAPE:
                self._escape = ""
            elif char in ENTER:
                done.append(self.text)
                self.text = ""
            elif char in ERASE:
                self.text = self.text[:-1]
            elif char == ERASE_LINE:
                self.text = ""
            elif char == ERASE_WORD:
                kept = self.text.rstrip()
                self.text = kept[: kept.rfind(" ") + 1]
            elif char == END_OF_INPUT:
                if not self.text:
                    done.append(None)
            elif char == "\t":
                self.text += " "
            elif char.isprintable():
                self.text += char
        return done

    def _in_escape(self, char: str) -> None:
        # ESC [ params final, or ESC O x (keypad), or ESC x (Alt+x): none of them is text.
        sequence = self._escape = (self._escape or "") + char
        if sequence in ("[", "O"):
            return
        if sequence.startswith("[") and not ("\x40" <= char <= "\x7e"):
            return
        if sequence.startswith("O") and len(sequence) < 2:
            return
        self._escape = None


class KeyboardLines:
    """Lines typed at a terminal, echoed by the room rather than by the terminal, so that lines
    printed meanwhile never land in the middle of what is being typed.

    ``on_typed(text)`` hears of every change to the line; ``on_entered(line)`` of each line
    entered, before :meth:`next` gives it out. The terminal's settings come back on
    :meth:`close` (and at exit, should the program die first). Raises :class:`OSError` when
    the terminal cannot be taken over.
    """

    def __init__(
        self,
        on_typed: Callable[[str], None],
        on_entered: Callable[[str], None],
        fd: int | None = None,
    ) -> None:
        import termios
        import tty

        self._fd = sys.stdin.fileno() if fd is None else fd
        self._on_typed = on_typed
        self._on_entered = on_entered
        self._editor = LineEditor()
        self._loop = asyncio.get_running_loop()
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        try:
            self._saved: list[Any] | None = termios.tcgetattr(self._fd)
            # No echo, no line editing; Ctrl-C still interrupts.
            tty.setcbreak(self._fd, termios.TCSANOW)
        except termios.error as exc:
            raise OSError(f"cannot take over the terminal: {exc}") from exc
        atexit.register(self.close)
        self._thread = threading.Thread(target=self._read, name="keyboard", daemon=True)
        self._thread.start()
        on_typed("")

    async def next(self) -> str | None:
        return await self._lines.get()

    def close(self) -> None:
        import termios

        if self._saved is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            self._saved = None
            atexit.unregister(self.close)

    def _feed(self, chars: str | None) -> None:
        if chars is None:
            self._lines.put_nowait(None)
            return
        for line in self._editor.feed(chars):
            if line is not None:
                self._on_entered(line)
            self._lines.put_nowait(line)
        self._on_typed(self._editor.text)

    def _post(self, chars: str | None) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._feed, chars)

    def _read(self) -> None:
        decoder = codecs.getincrementaldecoder(getattr(sys.stdin, "encoding", None) or "utf-8")(
            errors="replace"
        )
        try:
            while chunk := os.read(self._fd, READ_BYTES):
                if text := decoder.decode(chunk):
                    self._post(text)
        except OSError:
            pass  # the terminal went away: the end of input
        self._post(None)
