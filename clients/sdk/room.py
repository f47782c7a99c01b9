"""A session's live room that survives disconnects without losing or repeating an event.

The room reconnects on its own with ``last_seq`` and ``epoch``, drops anything it already
delivered, and when the server can no longer replay what was missed (``resumed: false``) it
reloads the persisted transcript over REST before going on live.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import urlencode

import httpx
import websockets
from websockets.asyncio.client import ClientConnection, connect

from clients.sdk.errors import ApiError, RoomBusy, RoomClosed
from clients.sdk.models import ConnectionDetails
from protocol.errors import (
    FINAL_CLOSE_CODES,
    REFUSED_STATUS_CLOSE_CODES,
    CloseCode,
    retry_after_ms,
)
from protocol.events import AnyRoomEvent, parse_room_event
from protocol.sequence import is_new, plan_rejoin

log = logging.getLogger(__name__)

# Put in the inbox by close(): iteration ends there.
_CLOSED = RoomClosed(1000, "closed by the client")

# After ``resumed: false``: how long to let the transcript catch up with the room.
TRANSCRIPT_POLL_S = 0.25
TRANSCRIPT_SETTLE_POLLS = 12


def reconnect_delay_s(
    backoff_s: float, code: int, reason: str, rng: Callable[[], float] = random.random
) -> float:
    """How long to wait before reconnecting after a close with ``code`` and ``reason``.

    The back-off, jittered: the reconnects of a whole room after a server restart spread out.
    A busy server's hint (``retry_after_ms`` on 1013) is a floor: never sooner than it says,
    plus up to half of it again, so the clients it refused together do not return together.
    """
    delay = backoff_s * (0.5 + rng())
    hint_ms = retry_after_ms(code, reason)
    if hint_ms is not None:
        delay = max(delay, hint_ms / 1000 * (1 + 0.5 * rng()))
    return delay


class RoomBackend(Protocol):
    """What a room asks of the REST side (``StudyroomClient`` is one): fresh connection
    details for each connection, and the transcript when the live log cannot replay."""

    async def connection_details(self, session_id: int) -> ConnectionDetails: ...

    async def messages(self, session_id: int, after_seq: int = 0) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Delivery:
    """One frame for the application: a room event (``seq`` set) or an ephemeral frame."""

    seq: int | None
    type: str
    data: dict[str, Any]
    # True when it came from the transcript after the live log could not replay it.
    reloaded: bool = False

    @cached_property
    def event(self) -> AnyRoomEvent | None:
        """The room event as a typed model (``ChatEvent``, ``AgentDeltaEvent``, …).

        ``None`` for ephemeral frames and for event types this SDK version does not know.
        """
        return None if self.seq is None else parse_room_event(self.data)


class Room:
    """Use as ``async with client.room(session_id) as room: async for delivery in room: …``."""

    def __init__(
        self,
        client: RoomBackend,
        session_id: int,
        *,
        last_seq: int | None = None,
        epoch: str | None = None,
        ephemeral: bool = True,
        max_backoff_s: float = 10.0,
        queue_max: int = 10_000,
    ) -> None:
        self._client = client
        self.session_id = session_id
        self.last_seq = last_seq
        self.epoch = epoch
        self.welcome: dict[str, Any] | None = None
        self._ephemeral = ephemeral
        self._max_backoff_s = max_backoff_s
        self._inbox: asyncio.Queue[Delivery | BaseException] = asyncio.Queue(queue_max)
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._welcomed_now = False
        self.reconnects = 0
        # The close code and reason of the last connection that ended, if any.
        self.last_close: tuple[int, str] | None = None

    # lifecycle

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self, wait_s: float = 20.0) -> None:
        """Connect; returns once the first ``welcome`` arrived."""
        self._task = asyncio.create_task(self._run())
        waiter = asyncio.create_task(self._connected.wait())
        done, _ = await asyncio.wait(
            {waiter, self._task}, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED
        )
        if self._task in done:
            waiter.cancel()
            self._task.result()
            raise RoomClosed(0, "the room stopped before it opened")
        if waiter not in done:
            waiter.cancel()
            last = self.last_close
            await self.close()
            if last is not None and retry_after_ms(*last) is not None:
                raise RoomBusy(last[0], last[1])
            raise TimeoutError("the room did not open in time")

    async def close(self) -> None:
        self._closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self._inbox.put_nowait(_CLOSED)
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    # receiving

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Delivery:
        """The next delivery; raises :class:`RoomClosed` when the room cannot be rejoined, or
        the error that stopped it, and ends after :meth:`close`."""
        item = await self._inbox.get()
        if item is _CLOSED:
            self._inbox.put_nowait(item)  # later reads end too
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item

    # sending

    async def chat(self, text: str, client_msg_id: str | None = None) -> None:
        await self._send({"type": "chat", "text": text, "client_msg_id": client_msg_id})

    async def ask(self, text: str, client_msg_id: str | None = None) -> None:
        await self._send({"type": "ask", "text": text, "client_msg_id": client_msg_id})

    async def cancel(self, turn_id: str) -> None:
        await self._send({"type": "cancel", "turn_id": turn_id})

    async def answer(self, quiz_id: str, choice: int) -> None:
        await self._send({"type": "answer", "quiz_id": quiz_id, "choice": choice})

    async def typing(self) -> None:
        await self._send({"type": "typing"})

    async def review(self) -> None:
        """Pose again the quiz cards due for the members in the room (``error`` ``nothing_due``
        if there are none)."""
        await self._send({"type": "review"})

    async def _send(self, frame: dict[str, Any], wait_s: float = 30.0) -> None:
        """Send once connected (waiting out a reconnect, up to ``timeout``)."""
        body = json.dumps({k: v for k, v in frame.items() if v is not None})
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("the room is not connected")
            await asyncio.wait_for(self._connected.wait(), left)
            ws = self._ws
            if ws is None:
                continue
            try:
                await ws.send(body)
                return
            except websockets.ConnectionClosed:
                self._connected.clear()

    # the connection loop

    async def _run(self) -> None:
        backoff = 0.2
        try:
            while not self._closed:
                self._welcomed_now = False
                code, reason = await self._session()
                self.last_close = (code, reason)
                if self._welcomed_now:
                    backoff = 0.2  # that connection worked: start over from a short wait
                if self._closed:
                    return
                # The catalogue's policy: stop after a final code; otherwise back off and
                # reconnect, with new connection details (every session fetches them).
                if code in FINAL_CLOSE_CODES:
                    await self._inbox.put(RoomClosed(code, reason))
                    return
                self.reconnects += 1
                await asyncio.sleep(reconnect_delay_s(backoff, code, reason))
                backoff = min(self._max_backoff_s, backoff * 2)
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                await self._inbox.put(exc)
            raise

    async def _session(self) -> tuple[int, str]:
        """One connection, from handshake to close; returns the close code and reason."""
        try:
            details = await self._client.connection_details(self.session_id)
        except httpx.TransportError as exc:
            return 1006, f"server unreachable: {exc}"
        except ApiError as exc:
            if exc.status >= 500 or exc.status == 429:
                return CloseCode.TRY_AGAIN_LATER, str(exc)
            # Not a member any more, the session ended or is gone: rejoining cannot help.
            code = REFUSED_STATUS_CLOSE_CODES.get(exc.status, CloseCode.FORBIDDEN)
            raise RoomClosed(code, str(exc)) from exc
        params: dict[str, Any] = {"token": details.participant_token}
        if self.last_seq is not None:
            params["last_seq"] = self.last_seq
            if self.epoch:
                params["epoch"] = self.epoch
        try:
            ws = await connect(f"{details.server_url}?{urlencode(params)}", max_size=None)
        except (OSError, websockets.InvalidHandshake) as exc:
            return 1006, str(exc)
        self._ws = ws
        try:
            welcome = json.loads(await ws.recv())
            await self._welcomed(welcome)
            async for raw in ws:
                if isinstance(raw, str):
                    await self._deliver(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        finally:
            self._connected.clear()
            self._ws = None
        received = ws.protocol.close_rcvd
        return (received.code, received.reason) if received else (1006, "connection lost")

    async def _welcomed(self, welcome: dict[str, Any]) -> None:
        self.welcome = welcome
        head = int(welcome["seq"])
        rejoined = plan_rejoin(self.last_seq, head, bool(welcome.get("resumed")))
        if rejoined.reload_after is not None:
            # The live log cannot replay what we missed: the transcript has what was kept.
            for row in await self._transcript_until(head):
                if int(row["seq"]) <= head:
                    await self._inbox.put(Delivery(int(row["seq"]), row["type"], row, True))
        self.last_seq = rejoined.last_seq
        self.epoch = str(welcome.get("epoch") or "") or None
        if self._ephemeral:
            await self._inbox.put(Delivery(None, "welcome", welcome))
        self._welcomed_now = True
        self._connected.set()

    async def _transcript_until(self, head: int) -> list[dict[str, Any]]:
        """The transcript after ``last_seq``, once the writer has caught up with ``head``.

        The transcript is written a moment behind the room, so a read right after the welcome
        can miss the newest events. It has caught up when it reaches ``head``, or (the head may
        be a token delta, which is never written, or the log may have restarted further on)
        when it stops growing for a moment.
        """
        assert self.last_seq is not None
        rows = await self._client.messages(self.session_id, after_seq=self.last_seq)
        for _ in range(TRANSCRIPT_SETTLE_POLLS):
            if rows and int(rows[-1]["seq"]) >= head:
                break
            await asyncio.sleep(TRANSCRIPT_POLL_S)
            again = await self._client.messages(self.session_id, after_seq=self.last_seq)
            if len(again) == len(rows):
                break
            rows = again
        return rows

    async def _deliver(self, frame: dict[str, Any]) -> None:
        seq = frame.get("seq")
        if isinstance(seq, int):
            if not is_new(self.last_seq, seq):
                return  # already delivered before a reconnect
            self.last_seq = seq
            await self._inbox.put(Delivery(seq, str(frame.get("type")), frame))
        elif self._ephemeral:
            await self._inbox.put(Delivery(None, str(frame.get("type")), frame))
