"""One member's room socket, from ``welcome`` to close.

The connection's own task is the writer: it sends the welcome, the replay, then whatever
waits in the member's queue, dropping anything at or below the last seq sent (the member's
cursor); while it waits, the room writes to the socket directly through the member's sink.
A second task, the reader, validates and applies the client's frames. Whatever ends first
(disconnect, a close the room asked for) ends both. The socket is written only through its
:class:`~server.rooms.sink.FrameSink`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from protocol.errors import CloseCode, ErrorCode
from protocol.events import (
    PONG_FRAME,
    ChatEvent,
    UserRef,
    error_frame,
    now_iso,
    typing_frame,
    welcome_frame,
)
from protocol.frames import (
    AnswerFrame,
    AskFrame,
    CancelFrame,
    ChatFrame,
    ClientFrame,
    FrameError,
    PingFrame,
    ReviewFrame,
    TypingFrame,
    parse_client_frame,
)
from protocol.sequence import complete_replay, plan_resume
from server.live.ports import LiveStateUnavailable, LoggedEvent
from server.rooms.asgi_sink import AsgiSink
from server.rooms.context import RoomServices
from server.rooms.member import Member
from server.rooms.ratelimit import TokenBucket
from server.rooms.sink import FRAME_SINK, FrameSink, SinkFactory, SocketGone

log = logging.getLogger(__name__)


def _nothing() -> None:
    pass


class RoomConnection:
    def __init__(
        self,
        websocket: WebSocket,
        services: RoomServices,
        session_id: int,
        user: UserRef,
        topic: dict[str, Any] | None,
    ) -> None:
        self._ws = websocket
        # The server's own sink when it has one (uvicorn_sink), else the ASGI path.
        bind: SinkFactory | None = websocket.scope.get("extensions", {}).get(FRAME_SINK)
        self._sink: FrameSink = AsgiSink(websocket) if bind is None else bind(websocket)
        self._services = services
        self._settings = services.settings
        self._hub = services.hub
        self._session_id = session_id
        self._user = user
        self._topic = topic
        self._member = Member(self._session_id, user, self._settings.send_queue_max)
        self._cursor = self._member.cursor
        self._bucket = TokenBucket(self._settings.rate_limit_per_s, self._settings.rate_limit_burst)
        self._last_rate_error = 0.0
        # The welcome frame and the events to replay, until the writer has sent them.
        self._greeting: list[str] = []

    async def run(
        self, last_seq: int | None, epoch: str | None, entered: Callable[[], None] = _nothing
    ) -> None:
        """Serve the socket until it closes; ``entered`` is called once the welcome and replay
        are ready for the writer (the join's slot is freed there, see server.rooms.joins)."""
        member = self._member
        metrics = self._services.metrics
        code = CloseCode.NORMAL
        try:
            try:
                head = await self._enter(last_seq, epoch)
            except LiveStateUnavailable:
                code = CloseCode.TRY_AGAIN_LATER
                return
            entered()
            code = await self._serve(head)
        finally:
            await self._hub.detach(member)
            with contextlib.suppress(LiveStateUnavailable):
                await self._hub.leave(member)
            await self._sink.close(code)
            metrics.ws_closed.labels(str(int(code))).inc()

    async def _enter(self, last_seq: int | None, epoch: str | None) -> int:
        """Join the room; sets the welcome and the events to replay, and returns the head seq."""
        hub, log_ = self._hub, self._services.replays
        # Attach first: from here on every new event reaches the queue, so nothing falls
        # between the replay read below and the live stream (overlap is dropped by seq).
        await hub.attach(self._member)
        entry = await hub.enter(self._member)
        window = entry.window
        plan = plan_resume(last_seq, window, epoch)
        read: list[LoggedEvent] = []
        if plan.replay_after is not None:
            # Up to the head only: later events come through the live stream.
            wanted = window.head - plan.replay_after
            read = await log_.read(self._session_id, plan.replay_after, limit=wanted)
        replay = complete_replay(plan, window, read)
        del read
        welcome = welcome_frame(
            session_id=self._session_id,
            user=self._user,
            members=entry.members,
            topic=self._topic,
            seq=window.head,
            resumed=replay.resumed,
            epoch=window.epoch,
        )
        self._greeting = [welcome, *(event.data for event in replay.events)]
        return window.head

    async def _serve(self, head: int) -> CloseCode:
        member = self._member
        reader = asyncio.create_task(self._read())
        # The client leaving (or its frames breaking the socket) ends the writer too; the
        # writer, run here, also ends when the member is closed (slow, restart, session ended).
        reader.add_done_callback(lambda _: member.stop())
        failure: BaseException | None = None
        try:
            await self._write(head)
        except (SocketGone, WebSocketDisconnect, OSError):
            pass
        except Exception as exc:
            failure = exc
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if member.close_code is not None:
            return member.close_code
        if failure is None and not reader.cancelled():
            failure = reader.exception()
        if failure is not None and not isinstance(failure, WebSocketDisconnect | OSError):
            log.error("room socket failed", exc_info=failure)
            return CloseCode.INTERNAL_ERROR
        return CloseCode.NORMAL

    async def _write(self, head: int) -> None:
        member = self._member
        cursor = self._cursor
        batch_max = self._settings.ws_write_batch_max
        # Dropped once sent: a socket may stay open for hours.
        greeting, self._greeting = self._greeting, []
        for start in range(0, len(greeting), batch_max):
            await self._send_all(greeting[start : start + batch_max], shared=False)
        del greeting
        cursor.last = head
        member.sink = self._write_now
        try:
            while taken := await member.take(batch_max):
                frames: list[str] = []
                ending = False
                for event in taken:
                    seq = event.seq
                    if not seq:
                        ending = cursor.ended
                    elif seq <= cursor.last:
                        continue
                    else:
                        ending = cursor.advance(seq)
                    frames.append(event.data)
                    if ending:
                        break
                await self._send_all(frames, shared=True)
                if ending:
                    member.close(member.end_code)
                    return
        finally:
            member.sink = None

    def _write_now(self, event: LoggedEvent) -> bool:
        """The member's sink: write one frame at once, as long as the socket takes it."""
        seq = event.seq
        cursor = self._cursor
        if seq and seq <= cursor.last:
            return True  # sent already (replay and live stream overlap): dropped
        if not self._sink.write_now(event.data):
            return False
        if seq and cursor.advance(seq):
            self._member.close(self._member.end_code)
        return True

    async def _send_all(self, frames: list[str], *, shared: bool) -> None:
        """Send frames in order; a client that does not take them in time is closed with 4008.

        ``shared`` frames go to other members too, so their encoding is cached for them.
        """
        if not frames:
            return
        try:
            await self._sink.write(
                frames,
                shared=shared,
                timeout_s=self._settings.send_timeout_s,
                abandon=self._member.closed,
            )
        except TimeoutError:
            self._member.close(CloseCode.SLOW_CONSUMER)
            raise

    async def _read(self) -> None:
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            # Every frame counts against the limit, binary ones too: a flood of them must
            # not earn one error frame each.
            if not self._bucket.take():
                self._rate_limited()
                continue
            text = message.get("text")
            if text is None:
                self._refuse(FrameError(ErrorCode.INVALID_FRAME, "frames must be JSON text"))
                continue
            frame = parse_client_frame(text, max_text_chars=self._settings.chat_max_chars)
            if isinstance(frame, FrameError):
                self._refuse(frame)
                continue
            try:
                await self._apply(frame)
            except LiveStateUnavailable:
                self._refuse(FrameError(ErrorCode.UNAVAILABLE, "live state is unavailable; retry"))
            # A burst of frames already buffered would otherwise be applied without a pause,
            # filling other members' queues before their writers get a turn.
            await asyncio.sleep(0)

    async def _apply(self, frame: ClientFrame) -> None:
        match frame:
            case ChatFrame():
                await self._hub.publish(
                    self._session_id,
                    ChatEvent(
                        message_id=secrets.token_hex(8),
                        user=self._user,
                        text=frame.text,
                        client_msg_id=frame.client_msg_id,
                        ts=now_iso(),
                    ),
                )
            case TypingFrame():
                await self._hub.signal(self._session_id, typing_frame(self._user))
            case PingFrame():
                self._member.push_ephemeral(PONG_FRAME)
            case AskFrame():
                refused = await self._services.tutor.ask(self._session_id, self._user, frame)
                if refused is not None:
                    self._refuse(refused)
            case CancelFrame():
                refused = await self._services.tutor.cancel(
                    self._session_id, self._user, frame.turn_id
                )
                if refused is not None:
                    self._refuse(refused)
            case AnswerFrame():
                refused = await self._services.tutor.answer(self._session_id, self._user, frame)
                if refused is not None:
                    self._refuse(refused)
            case ReviewFrame():
                refused = await self._services.tutor.review(self._session_id, self._user)
                if refused is not None:
                    self._refuse(refused)

    def _refuse(self, error: FrameError) -> None:
        self._services.metrics.frame_errors.labels(error.code.value).inc()
        self._member.push_ephemeral(error_frame(error.code, error.message))

    def _rate_limited(self) -> None:
        # One error a second is enough to tell a flooding client; more would be a flood of ours.
        now = asyncio.get_running_loop().time()
        self._services.metrics.frame_errors.labels(ErrorCode.RATE_LIMITED.value).inc()
        if now - self._last_rate_error >= 1.0:
            self._last_rate_error = now
            self._member.push_ephemeral(
                error_frame(ErrorCode.RATE_LIMITED, "too many frames; slow down")
            )
