"""Room frames written as pre-encoded bytes are the frames a WebSocket client expects."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from server.rooms.ws_protocol import shared_frame, text_frame


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
