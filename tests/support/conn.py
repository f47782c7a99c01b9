"""One member's room socket, over a raw ``websockets`` connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

Frame = dict[str, Any]


@dataclass
class Conn:
    """A member's socket after its welcome.

    ``events`` keeps every room event received (frames with a ``seq``), in arrival order;
    ``others`` keeps the rest (errors, acks, typing). ``ws`` is the raw connection, for frames
    no client would send and for holding the socket without reading.
    """

    ws: ClientConnection
    welcome: Frame
    events: list[Frame] = field(default_factory=list)
    others: list[Frame] = field(default_factory=list)

    async def send(self, frame: Frame | str) -> None:
        """Send ``frame`` as JSON, or a string exactly as given."""
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = 10.0) -> Frame:
        """The next frame; raises TimeoutError, or ConnectionClosed once the socket closed."""
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        frame: Frame = json.loads(raw)
        (self.events if "seq" in frame else self.others).append(frame)
        return frame

    async def until(self, predicate: Callable[[Frame], bool], timeout: float = 10.0) -> Frame:
        """Read until a frame matches ``predicate``; that frame. Frames read on the way are
        kept in ``events``/``others``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("expected frame did not arrive")
            frame = await self.recv(left)
            if predicate(frame):
                return frame

    async def seen(self, predicate: Callable[[Frame], bool], timeout: float = 10.0) -> Frame:
        """Like :meth:`until`, but an event received earlier also counts."""
        for event in self.events:
            if predicate(event):
                return event
        return await self.until(predicate, timeout)

    async def until_seq(self, seq: int, timeout: float = 10.0) -> None:
        """Read until an event with ``seq`` or later has arrived."""
        if self.events and self.events[-1]["seq"] >= seq:
            return
        await self.until(lambda f: f.get("seq", -1) >= seq, timeout)

    async def ask(self, text: str) -> Frame:
        """Ask the tutor ``text``; the room's ``ask`` event of it."""
        await self.send({"type": "ask", "text": text})
        return await self.until(lambda f: f.get("type") == "ask" and f["text"] == text)

    async def closed_with(self, timeout: float = 10.0) -> int | None:
        """Read until the server closes; the close code it sent."""
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await self.recv(timeout)
        return self.ws.protocol.close_rcvd.code if self.ws.protocol.close_rcvd else None

    @property
    def last_seq(self) -> int:
        """The last seq this member has seen: what it would resume from."""
        seq: int = self.events[-1]["seq"] if self.events else self.welcome["seq"]
        return seq
