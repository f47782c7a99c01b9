"""One member's room socket, from ``welcome`` to close.

The connection's own task is the writer: it sends the welcome, the replay, then whatever
waits in the member's queue, dropping anything at or below the last seq sent; while it waits,
the room writes to the socket directly through the member's sink. A second task, the reader,
validates and applies the client's frames. Whatever ends first (disconnect, a close the room
asked for) ends both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
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
    TypingFrame,
    parse_client_frame,
)
from protocol.sequence import plan_resume
from server.live.ports import LiveStateUnavailable, LoggedEvent
from server.rooms.member import Member
from server.rooms.ratelimit import TokenBucket
from server.rooms.ws_protocol import RAW_FRAMES, RawFrames, shared_frame, text_frame
from server.services import Services

log = logging.getLogger(__name__)

# Frames the writer takes from the queue at once and writes in one go.
WRITE_BATCH_MAX = 64


class RoomConnection:
    def __init__(
        self,
        websocket: WebSocket,
        services: Services,
        session_id: int,
        user: UserRef,
        topic: dict[str, Any] | None,
    ) -> None:
        self._ws = websocket
        # Present when served by our uvicorn protocol: frames are written without the ASGI path.
        self._raw: RawFrames | None = websocket.scope.get("extensions", {}).get(RAW_FRAMES)
        self._services = services
        self._settings = services.settings
        self._hub = services.hub
        self._session_id = str(session_id)
        self._user = user
        self._topic = topic
        self._member = Member(self._session_id, user, self._settings.send_queue_max)
        self._bucket = TokenBucket(self._settings.rate_limit_per_s, self._settings.rate_limit_burst)
        self._last_rate_error = 0.0
        # The highest seq written to the socket; anything at or below it is a duplicate.
        self._last_seq = 0
        # The welcome frame and the events to replay, until the writer has sent them.
        self._greeting: list[str] = []

    async def run(self, last_seq: int | None, epoch: str | None) -> None:
        member = self._member
        metrics = self._services.metrics
        code = CloseCode.NORMAL
        try:
            try:
                head = await self._enter(last_seq, epoch)
            except LiveStateUnavailable:
                code = CloseCode.TRY_AGAIN_LATER
                return
            code = await self._serve(head)
        finally:
            await self._hub.detach(member)
            with contextlib.suppress(LiveStateUnavailable):
                await self._hub.leave(member)
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self._ws.close(code)
            metrics.ws_closed.labels(str(int(code))).inc()

    async def _enter(self, last_seq: int | None, epoch: str | None) -> int:
        """Join the room; sets the welcome and the events to replay, and returns the head seq."""
        hub, log_ = self._hub, self._services.live.log
        # Attach first: from here on every new event reaches the queue, so nothing falls
        # between the replay read below and the live stream (overlap is dropped by seq).
        await hub.attach(self._member)
        await hub.announce_departures(self._session_id)
        window = await log_.window(self._session_id)
        plan = plan_resume(last_seq, window, epoch)
        replay: list[LoggedEvent] = []
        resumed = plan.resumed
        if plan.replay_after is not None:
            replay = [
                e
                for e in await log_.read(self._session_id, plan.replay_after)
                if e.seq <= window.head
            ]
            expected = list(range(plan.replay_after + 1, window.head + 1))
            if [e.seq for e in replay] != expected:
                # Trimmed between the window and the read: treat as too old to resume.
                resumed, replay = False, []
        await hub.join(self._member)
        members = await hub.members(self._session_id)
        welcome = welcome_frame(
            session_id=int(self._session_id),
            user=self._user,
            members=members,
            topic=self._topic,
            seq=window.head,
            resumed=resumed,
            epoch=window.epoch,
        )
        self._greeting = [welcome, *(event.data for event in replay)]
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
        except (WebSocketDisconnect, OSError):
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
        # Dropped once sent: a socket may stay open for hours.
        greeting, self._greeting = self._greeting, []
        for start in range(0, len(greeting), WRITE_BATCH_MAX):
            await self._send_all(greeting[start : start + WRITE_BATCH_MAX], shared=False)
        del greeting
        self._last_seq = head
        if self._raw is not None:
            member.sink = self._write_now
        try:
            while taken := await member.take(WRITE_BATCH_MAX):
                frames: list[str] = []
                ending = False
                for event in taken:
                    if event.seq:
                        if event.seq <= self._last_seq:
                            continue
                        self._last_seq = event.seq
                    frames.append(event.data)
                    if self._ends_session():
                        ending = True
                        break
                await self._send_all(frames, shared=True)
                if ending:
                    member.close(CloseCode.SESSION_ENDED)
                    return
        finally:
            member.sink = None

    def _write_now(self, event: LoggedEvent) -> bool:
        """The member's sink: write one frame at once, as long as the socket takes it."""
        seq = event.seq
        if seq and seq <= self._last_seq:
            return True  # sent already (replay and live stream overlap): dropped
        assert self._raw is not None
        if not self._raw.write_now(shared_frame(event.data)):
            return False
        if seq:
            self._last_seq = seq
            if self._ends_session():
                self._member.close(CloseCode.SESSION_ENDED)
        return True

    def _ends_session(self) -> bool:
        end = self._member.close_after_seq
        return end is not None and self._last_seq >= end

    async def _send_all(self, frames: list[str], *, shared: bool) -> None:
        """Send frames in order: in one write when the raw path is there, else one by one.

        ``shared`` frames go to other members too, so their encoding is cached for them.
        """
        if not frames:
            return
        if self._raw is None:
            for frame in frames:
                await self._send(frame)
            return
        encode = shared_frame if shared else text_frame
        data = b"".join(encode(frame) for frame in frames)
        try:
            await self._raw.write(data, self._settings.send_timeout_s, self._member.closed)
        except TimeoutError:
            self._member.close(CloseCode.SLOW_CONSUMER)
            raise

    async def _send(self, frame: str) -> None:
        try:
            async with asyncio.timeout(self._settings.send_timeout_s):
                await self._ws.send_text(frame)
        except TimeoutError:
            self._member.close(CloseCode.SLOW_CONSUMER)
            raise
        except RuntimeError as exc:
            if "close" not in str(exc):
                raise
            # The server closed this socket by itself (the client sent an oversized or
            # malformed frame: 1009, 1007) and the reader has not yet heard of it. The client
            # is gone, which is no server fault: never report it as one (1011).
            raise WebSocketDisconnect(1006) from exc

    async def _read(self) -> None:
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self._refuse(FrameError(ErrorCode.INVALID_FRAME, "frames must be JSON text"))
                continue
            if not self._bucket.take():
                self._rate_limited()
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
                await self._services.tutor.cancel(self._session_id, frame.turn_id)
            case AnswerFrame():
                refused = await self._services.tutor.answer(self._session_id, self._user, frame)
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
