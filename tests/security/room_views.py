"""Blocking room clients that check, frame by frame, what the protocol promises a member.

For the state machine in ``test_room_state_machine``: it runs in a worker thread with
``websockets.sync``, so the test's event loop stays free for the scripted model server.

A :class:`View` is one member across all of its connections. Within a connection, room events
must arrive gap-free and without duplicates, starting right after the ``welcome`` (or after
``last_seq`` when resumed); every room event must equal what every other member got under the
same ``seq`` (:class:`Order`); ephemeral frames (``welcome``, ``pong``, ``typing``, ``error``)
never carry one. The server may close a socket only for a reason the member gave it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from server.asyncapi import ROOM_EVENT_TYPES

EPHEMERAL = frozenset({"welcome", "pong", "typing", "error"})
ROOM_EVENTS = frozenset(ROOM_EVENT_TYPES)
ERROR_CODES = frozenset(
    {"invalid_frame", "unknown_type", "rate_limited", "not_allowed", "not_found"}
)
TERMINAL = frozenset({"agent.done", "agent.error"})
WAIT_S = 15.0


class Order:
    """The one total order of the session, as far as any member has seen it."""

    def __init__(self) -> None:
        self.events: dict[int, dict[str, Any]] = {}

    def agree(self, event: dict[str, Any]) -> None:
        known = self.events.setdefault(event["seq"], event)
        assert known == event, f"two events under seq {event['seq']}: {known} and {event}"

    def turns(self) -> dict[str, list[dict[str, Any]]]:
        """Each asked turn and its terminal events so far."""
        asked = {e["turn_id"]: [] for e in self.events.values() if e["type"] == "ask"}
        for event in self.events.values():
            if event["type"] in TERMINAL:
                asked.setdefault(event["turn_id"], []).append(event)
        return asked


@dataclass
class View:
    """One member's sockets, one at a time, and everything they received."""

    url: str
    order: Order
    ws: ClientConnection | None = None
    connected_once: bool = False
    last_seq: int = 0
    epoch: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    seen: dict[int, dict[str, Any]] = field(default_factory=dict)
    _next_seq: int = 0

    @property
    def connected(self) -> bool:
        return self.ws is not None

    def open(
        self, last_seq: int | None = None, epoch: str | None = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Connect, resuming after ``last_seq`` when given; the welcome and the frames that
        came with it (the replay, if any)."""
        query = "" if last_seq is None else f"&last_seq={last_seq}"
        if epoch is not None:
            query += f"&epoch={epoch}"
        self.ws = connect(
            self.url + query,
            open_timeout=10,
            close_timeout=2,
            max_size=None,
            proxy=None,
            legacy=True,
        )
        welcome = self._frame(self.ws.recv(timeout=WAIT_S))
        assert welcome["type"] == "welcome", welcome
        assert isinstance(welcome["seq"], int) and isinstance(welcome["resumed"], bool), welcome
        head = welcome["seq"]
        if last_seq is not None and welcome["resumed"]:
            assert last_seq <= head, welcome
            self._next_seq = last_seq + 1
        else:
            self._next_seq = head + 1
        self.connected_once = True
        self.epoch = welcome["epoch"]
        self.last_seq = self._next_seq - 1
        return welcome, self.drain()

    def send(self, frame: str | bytes) -> None:
        assert self.ws is not None
        self.ws.send(frame)

    def sync(self) -> list[dict[str, Any]]:
        """Ping and read up to the pong: every frame the server queued for us before it."""
        self.send('{"type":"ping"}')
        frames: list[dict[str, Any]] = []
        while True:
            assert self.ws is not None
            frame = self._absorb(self.ws.recv(timeout=WAIT_S))
            if frame["type"] == "pong":
                return frames
            frames.append(frame)

    def drain(self) -> list[dict[str, Any]]:
        """Whatever has already arrived, without waiting."""
        frames: list[dict[str, Any]] = []
        while self.ws is not None:
            try:
                raw = self.ws.recv(timeout=0)
            except TimeoutError:
                break
            frames.append(self._absorb(raw))
        return frames

    def closed_by_server(self) -> int:
        """Read until the server closes; its close code."""
        assert self.ws is not None
        with contextlib.suppress(ConnectionClosed):
            while True:
                self._absorb(self.ws.recv(timeout=WAIT_S))
        received = self.ws.protocol.close_rcvd
        self.ws = None
        return received.code if received is not None else 1006

    def close(self) -> None:
        """Leave normally, after reading what is still on its way."""
        assert self.ws is not None
        self.drain()
        self.ws.close()
        self._check_close(self.ws, expected=1000)
        self.ws = None

    def drop(self) -> None:
        """Vanish without a close frame: the kernel resets the connection."""
        assert self.ws is not None
        self.drain()
        raw = self.ws.socket
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            raw.close()
        with contextlib.suppress(Exception):
            self.ws.close()
        self.ws = None

    def _check_close(self, ws: ClientConnection, expected: int) -> None:
        received = ws.protocol.close_rcvd
        if received is not None:
            assert received.code == expected, f"the server closed with {received.code}"

    def _frame(self, raw: str | bytes) -> dict[str, Any]:
        assert isinstance(raw, str), f"the server sent a binary frame: {raw!r}"
        frame = json.loads(raw)
        assert isinstance(frame, dict) and isinstance(frame.get("type"), str), frame
        return frame  # type: ignore[no-any-return]

    def _absorb(self, raw: str | bytes) -> dict[str, Any]:
        frame = self._frame(raw)
        kind = frame["type"]
        if kind in EPHEMERAL:
            assert "seq" not in frame, f"an ephemeral frame with a seq: {frame}"
            if kind == "error":
                assert frame["code"] in ERROR_CODES, frame
                self.errors.append(frame)
            return frame
        assert kind in ROOM_EVENTS, frame
        seq = frame["seq"]
        assert seq == self._next_seq, f"expected seq {self._next_seq}, got {frame}"
        self._next_seq = seq + 1
        self.last_seq = seq
        self.order.agree(frame)
        self.seen[seq] = frame
        return frame
