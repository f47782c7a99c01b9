"""The uvicorn sink writes room frames as pre-encoded bytes: the frames a WebSocket client
expects, written when the client reads and given up when its member is closed."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from protocol.errors import CloseCode
from protocol.events import UserRef
from server.rooms.member import Member
from server.rooms.sink import SocketGone
from server.rooms.uvicorn_sink import LeanEvent, UvicornSink, shared_frame, text_frame


def parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False, max_size=None)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70_000])
def test_text_frames_of_every_length_form(size: int) -> None:
    text = ("é" * size)[: size // 2] + "x" * (size - size // 2)
    frame = parse(text_frame(text))
    assert (frame.opcode, frame.fin, frame.rsv1) == (Opcode.TEXT, True, False)
    assert frame.data.decode() == text


def test_shared_frames_are_encoded_once() -> None:
    event = '{"seq":7,"type":"chat","text":"hello"}'
    assert shared_frame(event) is shared_frame(event)
    assert shared_frame(event) == text_frame(event)


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        self.written.append(data)


class _PausedProtocol:
    """The state the sink reads of a socket whose client stopped reading."""

    def __init__(self) -> None:
        self.writable = LeanEvent()
        self.disconnected = False
        self.close_sent = False
        self.transport = _Transport()


async def test_a_write_waiting_for_the_client_ends_when_the_member_is_closed() -> None:
    protocol = _PausedProtocol()
    member = Member(1, UserRef(id=1, name="ada"), queue_max=8)
    sink = UvicornSink(cast(Any, protocol), cast(Any, None))
    writing = asyncio.create_task(
        sink.write(["frame"], shared=False, timeout_s=60.0, abandon=member.closed)
    )
    await asyncio.sleep(0.05)
    assert not writing.done()

    member.close(CloseCode.SLOW_CONSUMER)

    # Long before the 60 s send timeout: the socket is being closed anyway.
    with pytest.raises(SocketGone):
        await asyncio.wait_for(writing, 1.0)
    assert protocol.transport.written == []


async def test_a_waiting_write_goes_out_once_the_client_reads_again() -> None:
    protocol = _PausedProtocol()
    member = Member(1, UserRef(id=1, name="ada"), queue_max=8)
    sink = UvicornSink(cast(Any, protocol), cast(Any, None))
    writing = asyncio.create_task(
        sink.write(["frame"], shared=False, timeout_s=60.0, abandon=member.closed)
    )
    await asyncio.sleep(0.05)

    protocol.writable.set()

    await asyncio.wait_for(writing, 1.0)
    assert protocol.transport.written == [text_frame("frame")]
