import json

import pytest

from protocol.errors import ErrorCode
from protocol.frames import (
    AnswerFrame,
    AskFrame,
    CancelFrame,
    ChatFrame,
    FrameError,
    PingFrame,
    TypingFrame,
    parse_client_frame,
)


def parse(raw: object, limit: int = 100) -> object:
    text = raw if isinstance(raw, str) else json.dumps(raw)
    return parse_client_frame(text, max_text_chars=limit)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ({"type": "chat", "text": "hi"}, ChatFrame),
        ({"type": "chat", "text": "hi", "client_msg_id": "c1"}, ChatFrame),
        ({"type": "ask", "text": "why?"}, AskFrame),
        ({"type": "cancel", "turn_id": "t1"}, CancelFrame),
        ({"type": "answer", "quiz_id": "q1", "choice": 2}, AnswerFrame),
        ({"type": "typing"}, TypingFrame),
        ({"type": "ping"}, PingFrame),
    ],
)
def test_valid_frames_parse_to_their_model(raw: dict[str, object], kind: type) -> None:
    assert isinstance(parse(raw), kind)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", ErrorCode.INVALID_FRAME),
        ("[1, 2]", ErrorCode.INVALID_FRAME),
        ('"chat"', ErrorCode.INVALID_FRAME),
        ({"text": "no type"}, ErrorCode.INVALID_FRAME),
        ({"type": 5}, ErrorCode.INVALID_FRAME),
        ({"type": "shout", "text": "x"}, ErrorCode.UNKNOWN_TYPE),
        ({"type": "chat"}, ErrorCode.INVALID_FRAME),
        ({"type": "chat", "text": ""}, ErrorCode.INVALID_FRAME),
        ({"type": "chat", "text": "   "}, ErrorCode.INVALID_FRAME),
        ({"type": "chat", "text": 42}, ErrorCode.INVALID_FRAME),
        ({"type": "chat", "text": "x" * 101}, ErrorCode.INVALID_FRAME),
        ({"type": "chat", "text": "hi", "extra": 1}, ErrorCode.INVALID_FRAME),
        ({"type": "chat", "text": "hi", "client_msg_id": "x" * 65}, ErrorCode.INVALID_FRAME),
        ({"type": "answer", "quiz_id": "q", "choice": -1}, ErrorCode.INVALID_FRAME),
        ({"type": "answer", "quiz_id": "q", "choice": "a"}, ErrorCode.INVALID_FRAME),
        ({"type": "answer", "quiz_id": "q", "choice": True}, ErrorCode.INVALID_FRAME),
        ({"type": "answer", "quiz_id": "q", "choice": "1"}, ErrorCode.INVALID_FRAME),
        ({"type": "answer", "quiz_id": "q", "choice": 1.0}, ErrorCode.INVALID_FRAME),
        ({"type": "cancel"}, ErrorCode.INVALID_FRAME),
        ("[" * 100_000, ErrorCode.INVALID_FRAME),
    ],
)
def test_bad_frames_become_errors_not_exceptions(raw: object, code: ErrorCode) -> None:
    result = parse(raw)
    assert isinstance(result, FrameError)
    assert result.code is code
    assert result.message


def test_unknown_type_is_not_echoed_at_length() -> None:
    result = parse({"type": "x" * 10_000})
    assert isinstance(result, FrameError)
    assert len(result.message) < 100
