import json

import pytest

from protocol.events import (
    AgentFallbackEvent,
    ChatEvent,
    PresenceEvent,
    QuizEvent,
    TopicChangedEvent,
    UserRef,
    encode_event,
    encode_with_seq,
    peek_seq,
    peek_type,
)

ALICE = UserRef(id=1, name='Alice "A" ✓')


def test_encode_puts_type_first_and_drops_absent_fields() -> None:
    body = encode_event(ChatEvent(message_id="m", user=ALICE, text="hé", ts="t"))
    assert body.startswith('{"type":"chat",')
    assert "client_msg_id" not in json.loads(body)


@pytest.mark.parametrize("seq", [1, 9, 10, 12345678901])
def test_seq_splice_round_trips(seq: int) -> None:
    body = encode_event(PresenceEvent(event="join", user=ALICE, ts="t"))
    frame = encode_with_seq(seq, body)
    decoded = json.loads(frame)
    assert decoded["seq"] == seq
    assert decoded["user"] == {"id": 1, "name": 'Alice "A" ✓'}
    assert peek_seq(frame) == seq
    assert peek_type(frame) == "presence"


def test_splice_refuses_non_objects() -> None:
    with pytest.raises(ValueError):
        encode_with_seq(1, "[]")


@pytest.mark.parametrize(
    "body", ["[]", "{}", '{"ts":"t","type":"chat"}', '{"type":"chat"', "", " {}"]
)
def test_splice_refuses_bodies_not_laid_out_as_encoded_events(body: str) -> None:
    with pytest.raises(ValueError):
        encode_with_seq(1, body)


def test_splice_refuses_a_seq_that_is_not_positive() -> None:
    with pytest.raises(ValueError):
        encode_with_seq(0, '{"type":"chat"}')


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"chat","seq":1}',
        '{"seq":,"type":"chat"}',
        '{"seq":1.5,"type":"chat"}',
        '{"seq":-1,"type":"chat"}',
        '{"seq":12',
        '{"seq":"1","type":"chat"}',
        '{"seq":١٢,"type":"chat"}',
    ],
)
def test_peek_seq_refuses_frames_not_in_the_layout(frame: str) -> None:
    with pytest.raises(ValueError):
        peek_seq(frame)


@pytest.mark.parametrize(
    "frame",
    [
        '{"seq":1,"ts":"t","type":"chat"}',
        '{"seq":1,"type":"chat',
        '{"type":"chat"}',
        '{"seq":1, "type":"chat"}',
    ],
)
def test_peek_type_refuses_frames_not_in_the_layout(frame: str) -> None:
    with pytest.raises(ValueError):
        peek_type(frame)


def test_a_required_field_that_is_null_is_encoded_as_null() -> None:
    cleared = json.loads(encode_event(TopicChangedEvent(topic=None, ts="t")))
    assert cleared == {"type": "topic.changed", "ts": "t", "topic": None}
    # Optional fields that are unset stay out.
    quiz = json.loads(
        encode_event(QuizEvent(quiz_id="q", question="?", choices=["a", "b"], ts="t"))
    )
    assert "turn_id" not in quiz and "review_of" not in quiz
    fell_back = json.loads(
        encode_event(AgentFallbackEvent(turn_id="t1", from_="a", to="b", reason="timeout", ts="t"))
    )
    assert fell_back["from"] == "a" and "from_" not in fell_back
