"""A multipart body streamed from disk, reporting how much of it has been handed to the socket.

httpx would read the whole file into memory for ``files=``; study materials can be large, and a
progress bar needs to know how far the upload got, so the body is produced here piece by piece.
"""

from __future__ import annotations

import mimetypes
import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio

CHUNK_BYTES = 64 * 1024

# Called with (bytes sent, total bytes) after every piece of the body.
ProgressCallback = Callable[[int, int], None]


def _quoted(name: str) -> str:
    """A filename safe inside a quoted header parameter (RFC 7578 leaves escaping loose)."""
    return name.replace("\\", "_").replace('"', "_").replace("\r", "_").replace("\n", "_")


class MultipartFile:
    """One ``file`` field: ``headers`` to send and ``body()`` to stream."""

    def __init__(self, path: Path, field: str = "file", filename: str | None = None) -> None:
        self.path = path
        self.size = os.stat(path).st_size
        boundary = "studyroom-" + secrets.token_hex(16)
        name = _quoted(filename or path.name)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        self._head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self.total = len(self._head) + self.size + len(self._tail)
        self.headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(self.total),
        }

    async def body(self, on_progress: ProgressCallback | None = None) -> AsyncIterator[bytes]:
        sent = 0

        def advance(piece: bytes) -> bytes:
            nonlocal sent
            sent += len(piece)
            if on_progress is not None:
                on_progress(sent, self.total)
            return piece

        yield advance(self._head)
        async with await anyio.open_file(self.path, "rb") as source:
            while piece := await source.read(CHUNK_BYTES):
                yield advance(piece)
        yield advance(self._tail)
