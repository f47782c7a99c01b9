"""A member's queue: frames go straight to an idle socket, wait in order otherwise, and a client
that does not read is closed with 4008 instead of holding the room."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from protocol.errors import CloseCode
from protocol.events import UserRef
from server.live.ports import LoggedEvent
from server.rooms.member import Member
from server.rooms.sink import FrameSink, SocketGone


class MemorySink:
    """A socket in memory: takes frames at once while ``reading``."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.reading = True
        self.closed_with: int | None = None

    def write_now(self, frame: str) -> bool:
        if not self.reading or self.closed_with is not None:
            return False
        self.written.append(frame)
        return True

    async def write(
        self,
        frames: Sequence[str],
        *,
        shared: bool,
        timeout_s: float,
        abandon: Callable[[], asyncio.Future[None]],
    ) -> None:
        if self.closed_with is not None:
            raise SocketGone("closed")
        self.written.extend(frames)

    async def close(self, code: int) -> None:
        self.closed_with = code


def member(queue_max: int = 4) -> Member:
    return Member(1, UserRef(id=1, name="ada"), queue_max)


def event(seq: int) -> LoggedEvent:
    return LoggedEvent(seq, f'{{"seq":{seq},"type":"chat"}}')


def attach(member: Member, sink: FrameSink) -> None:
    member.sink = lambda logged: sink.write_now(logged.data)


async def waiting(member: Member) -> asyncio.Task[list[LoggedEvent]]:
    """The writer, waiting for frames."""
    task = asyncio.create_task(member.take(8))
    await asyncio.sleep(0)
    return task


async def test_a_frame_for_a_waiting_writer_goes_straight_to_the_socket() -> None:
    m, sink = member(), MemorySink()
    attach(m, sink)
    writer = await waiting(m)

    assert m.push(event(1))

    assert sink.written == [event(1).data]
    assert not writer.done()
    m.stop()
    assert await writer == []


async def test_a_frame_the_socket_cannot_take_waits_for_the_writer() -> None:
    m, sink = member(), MemorySink()
    sink.reading = False
    attach(m, sink)
    writer = await waiting(m)

    assert m.push(event(1))

    assert await writer == [event(1)]
    assert sink.written == []


async def test_frames_wait_in_order_while_the_writer_is_busy() -> None:
    m, sink = member(), MemorySink()
    attach(m, sink)  # the writer is not waiting: it may hold earlier frames
    for seq in (1, 2, 3):
        assert m.push(event(seq))
    m.push_ephemeral('{"type":"pong"}')

    taken = await m.take(8)

    assert [e.seq for e in taken] == [1, 2, 3, 0]
    assert sink.written == []


async def test_a_full_queue_closes_the_member_as_slow() -> None:
    m = member(queue_max=4)
    assert all(m.push(event(seq)) for seq in range(1, 5))

    assert m.push(event(5)) is False

    assert m.close_code is CloseCode.SLOW_CONSUMER
    assert await m.take(8) == []
    assert m.push(event(6)) is False


async def test_the_first_close_reason_wins_and_ends_a_blocked_write() -> None:
    m = member()
    blocked = m.closed()
    assert not blocked.done()

    m.close(CloseCode.SESSION_ENDED)
    m.close(CloseCode.SLOW_CONSUMER)

    assert m.close_code is CloseCode.SESSION_ENDED
    assert blocked.done()
    assert m.closed().done()


async def test_a_sink_that_fails_never_fails_the_room() -> None:
    m = member()

    def broken(logged: LoggedEvent) -> bool:
        raise OSError("the socket broke")

    m.sink = broken
    writer = await waiting(m)

    assert m.push(event(1))
    assert await writer == [event(1)]


@pytest.mark.parametrize("limit", [1, 2, 8])
async def test_take_hands_out_at_most_limit_frames(limit: int) -> None:
    m = member(queue_max=8)
    for seq in range(1, 6):
        m.push(event(seq))
    taken = await m.take(limit)
    assert [e.seq for e in taken] == list(range(1, min(limit, 5) + 1))
