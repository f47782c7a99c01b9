"""Lines typed on stdin, for an asyncio program.

A daemon thread reads the raw file descriptor: a read blocked on a quiet terminal or pipe then
holds up neither the event loop nor the exit (a buffered ``sys.stdin`` would hold its lock
through interpreter shutdown), and it works for terminals, pipes and redirected files alike.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import sys
import threading

READ_BYTES = 64 * 1024


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
