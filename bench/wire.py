"""The one payload every system carries, and how each system's client protocol wraps it.

The payload is chat text of a fixed length holding ``time.monotonic_ns()`` at the moment it was
sent (CLOCK_MONOTONIC is one clock for every process on a Linux machine). Whatever frame a
system delivers, the load generator finds the stamp by string search and slicing, never by
parsing, so its per-message work is the same tiny amount for every system.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from websockets.asyncio.client import ClientConnection

MARK = "~T"
_STAMP_DIGITS = 19
PAYLOAD_CHARS = 128
_PAD = "study-room-benchmark-payload-" * 8


def payload(now_ns: int) -> str:
    """``~T<19 digits>~`` and padding, ``PAYLOAD_CHARS`` long; needs no JSON escaping."""
    head = f"{MARK}{now_ns:0{_STAMP_DIGITS}d}~"
    return head + _PAD[: PAYLOAD_CHARS - len(head)]


def stamp_of(frame: str) -> int:
    """The send stamp in a delivered frame, or -1 if it carries none (presence, pings…)."""
    at = frame.find(MARK)
    if at < 0:
        return -1
    return int(frame[at + 2 : at + 2 + _STAMP_DIGITS])


@dataclass(frozen=True)
class Seat:
    """One connection the load generator opens: where, and which room it belongs to."""

    url: str
    room: str


class Dialect(Protocol):
    """A system's client protocol: the handshake after connecting, and a chat frame."""

    name: str

    async def enter(self, ws: ClientConnection, room: str) -> None: ...

    def chat(self, text: str) -> str: ...


class StudyroomDialect:
    """``welcome`` first, then ``{"type":"chat","text":…}`` frames."""

    name = "studyroom"

    async def enter(self, ws: ClientConnection, room: str) -> None:
        welcome = await ws.recv()
        if not isinstance(welcome, str) or not welcome.startswith('{"type":"welcome"'):
            raise RuntimeError(f"expected welcome, got {welcome!r:.200}")

    def chat(self, text: str) -> str:
        return '{"type":"chat","text":"' + text + '"}'


class SocketIODialect:
    """Engine.IO v4 / Socket.IO v5 text packets over ``/socket.io/?EIO=4&transport=websocket``.

    ``0{…}`` (Engine.IO open) → ``40`` (connect to ``/``) → ``40{…}``, then a ``join`` event with
    an ack id so the room is entered before any load. Server pings ``2`` are answered ``3`` by
    the reader.
    """

    name = "socketio"

    async def enter(self, ws: ClientConnection, room: str) -> None:
        opened = await ws.recv()
        if not isinstance(opened, str) or not opened.startswith("0{"):
            raise RuntimeError(f"expected an Engine.IO open packet, got {opened!r:.200}")
        await ws.send("40")
        await _until(ws, "40")
        await ws.send('421["join","' + room + '"]')
        await _until(ws, "431")

    def chat(self, text: str) -> str:
        return '42["chat","' + text + '"]'


class PlainDialect:
    """The bare peers: the room is in the URL, a chat is ``{"type":"chat","text":…}``.

    With ``hello``, the server sends that frame once the member is in its room (the floor
    does), and entering waits for it.
    """

    name = "plain"

    def __init__(self, hello: str | None = None) -> None:
        self.hello = hello

    async def enter(self, ws: ClientConnection, room: str) -> None:
        if self.hello is None:
            return
        first = await ws.recv()
        if first != self.hello:
            raise RuntimeError(f"expected {self.hello}, got {first!r:.200}")

    def chat(self, text: str) -> str:
        return '{"type":"chat","text":"' + text + '"}'


async def _until(ws: ClientConnection, prefix: str) -> None:
    for _ in range(20):
        frame = await ws.recv()
        if isinstance(frame, str) and frame.startswith(prefix):
            return
        if frame == "2":
            await ws.send("3")
    raise RuntimeError(f"no {prefix!r} packet from the Socket.IO server")
