"""A small terminal: enough of a VT100 to replay what the chat writes and see what a person sees.

It keeps a screen of ``rows`` by ``columns`` cells and the scrollback above it; it knows the
codes the chat emits (carriage return, line feed, cursor up, erase line, erase below) and
ignores colours and other CSI sequences. Lines wrap as xterm's do: writing the last column
leaves the cursor there until the next character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CSI = re.compile(r"\x1b\[([0-9;?]*)([ -/]*)([@-~])")


@dataclass
class VirtualTerminal:
    columns: int
    rows: int
    scrollback: list[str] = field(default_factory=list)
    # Whether the cursor sits past the last column, waiting for the next character to wrap.
    _wrap_pending: bool = False

    def __post_init__(self) -> None:
        self.screen = [[" "] * self.columns for _ in range(self.rows)]
        self.row = 0
        self.column = 0

    # what a terminal protocol would call ``write``

    def size(self) -> tuple[int, int]:
        return self.columns, self.rows

    def write(self, text: str) -> None:
        at = 0
        while at < len(text):
            if text[at] == "\x1b" and (match := CSI.match(text, at)):
                self._csi(match.group(1), match.group(3))
                at = match.end()
                continue
            self._char(text[at])
            at += 1

    # what a person sees

    def lines(self) -> list[str]:
        """The screen's rows, trailing spaces dropped."""
        return ["".join(cells).rstrip() for cells in self.screen]

    def transcript(self) -> list[str]:
        """Scrollback then screen, with the empty rows at the bottom dropped."""
        everything = self.scrollback + self.lines()
        while everything and not everything[-1]:
            everything.pop()
        return everything

    def cursor_line(self) -> str:
        return self.lines()[self.row]

    # the machinery

    def _char(self, char: str) -> None:
        if char == "\r":
            self.column, self._wrap_pending = 0, False
        elif char == "\n":
            # The tty's output translation (ONLCR, on by default) makes it a CR LF.
            self.column, self._wrap_pending = 0, False
            self._line_feed()
        elif char == "\b":
            self.column, self._wrap_pending = max(0, self.column - 1), False
        elif char == "\x07" or ord(char) < 0x20:
            pass
        else:
            if self._wrap_pending:
                self.column, self._wrap_pending = 0, False
                self._line_feed()
            self.screen[self.row][self.column] = char
            if self.column == self.columns - 1:
                self._wrap_pending = True
            else:
                self.column += 1

    def _line_feed(self) -> None:
        if self.row == self.rows - 1:
            self.scrollback.append("".join(self.screen.pop(0)).rstrip())
            self.screen.append([" "] * self.columns)
        else:
            self.row += 1

    def _csi(self, params: str, final: str) -> None:
        self._wrap_pending = False
        numbers = [int(p) for p in params.split(";") if p.isdigit()]
        count = numbers[0] if numbers else 1
        if final == "A":
            self.row = max(0, self.row - count)
        elif final == "B":
            self.row = min(self.rows - 1, self.row + count)
        elif final == "C":
            self.column = min(self.columns - 1, self.column + count)
        elif final == "D":
            self.column = max(0, self.column - count)
        elif final == "G":
            self.column = min(self.columns - 1, count - 1)
        elif final == "K":
            mode = numbers[0] if numbers else 0
            cells = self.screen[self.row]
            if mode == 2:
                cells[:] = [" "] * self.columns
            elif mode == 1:
                cells[: self.column + 1] = [" "] * (self.column + 1)
            else:
                cells[self.column :] = [" "] * (self.columns - self.column)
        elif final == "J":
            mode = numbers[0] if numbers else 0
            if mode == 0:
                self.screen[self.row][self.column :] = [" "] * (self.columns - self.column)
                for below in range(self.row + 1, self.rows):
                    self.screen[below] = [" "] * self.columns
            elif mode == 2:
                self.screen = [[" "] * self.columns for _ in range(self.rows)]
        # Colours ("m"), cursor visibility ("?25l") and the rest change no cell.
