"""Frames the server sends: room events (ordered, with ``seq``) and ephemeral frames.

A room event is built without its ``seq``; the room log assigns the number when it appends
the event, and :func:`encode_with_seq` splices it into the already-encoded JSON so one string
is sent to every member without encoding it again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from protocol.errors import ErrorCode


class UserRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    name: str


def now_iso() -> str:
    """Event timestamps: UTC, millisecond precision, ``Z`` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RoomEvent(BaseModel):
    """Base of every room event. ``seq`` is absent until the room log assigns it."""

    model_config = ConfigDict(frozen=True)

    type: str
    ts: str


class PresenceEvent(RoomEvent):
    type: Literal["presence"] = "presence"
    event: Literal["join", "leave"]
    user: UserRef


class ChatEvent(RoomEvent):
    type: Literal["chat"] = "chat"
    message_id: str
    user: UserRef
    text: str
    client_msg_id: str | None = None


class AskEvent(RoomEvent):
    type: Literal["ask"] = "ask"
    turn_id: str
    user: UserRef
    text: str
    client_msg_id: str | None = None


class AgentStartEvent(RoomEvent):
    type: Literal["agent.start"] = "agent.start"
    turn_id: str
    in_reply_to: int  # seq of the ask


class AgentDeltaEvent(RoomEvent):
    type: Literal["agent.delta"] = "agent.delta"
    turn_id: str
    text: str


class TurnUsage(BaseModel):
    model_config = ConfigDict(frozen=True)

    tokens_in: int
    tokens_out: int


class Citation(BaseModel):
    model_config = ConfigDict(frozen=True)

    material_id: int
    chunk_id: int
    filename: str = ""
    page: int | None = None


class AgentDoneEvent(RoomEvent):
    type: Literal["agent.done"] = "agent.done"
    turn_id: str
    text: str
    usage: TurnUsage
    citations: list[Citation]
    stopped: bool
    model: str
    ttft_ms: int | None = None
    truncated: bool = False
    """The answer reached the tutor's token limit (``STUDYROOM_TUTOR_MAX_TOKENS``) and was cut."""
    models: list[str] = Field(default_factory=list)
    """Every model that wrote part of the answer, in order (more than one after a fallback)."""


class AgentFallbackEvent(RoomEvent):
    """The turn's model failed; ``to`` goes on with the answer from where it stopped."""

    # ``from`` is a Python keyword: the field is ``from_`` in code, ``from`` on the wire.
    model_config = ConfigDict(
        frozen=True, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    type: Literal["agent.fallback"] = "agent.fallback"
    turn_id: str
    from_: str = Field(alias="from")
    to: str
    reason: str


class AgentErrorEvent(RoomEvent):
    type: Literal["agent.error"] = "agent.error"
    turn_id: str
    code: str
    message: str


class QuizEvent(RoomEvent):
    type: Literal["quiz"] = "quiz"
    quiz_id: str
    question: str
    choices: list[str]
    turn_id: str | None = None
    review_of: str | None = None
    """Set when the quiz is a card posed again for review: the quiz it was first."""


class QuizResultEvent(RoomEvent):
    type: Literal["quiz.result"] = "quiz.result"
    quiz_id: str
    user: UserRef
    choice: int
    correct: bool


class ProgressEvent(RoomEvent):
    type: Literal["progress"] = "progress"
    user: UserRef
    concept: str
    mastery: float
    source: Literal["quiz", "tutor"]


class TopicChangedEvent(RoomEvent):
    type: Literal["topic.changed"] = "topic.changed"
    topic: dict[str, Any] | None


class SessionEndedEvent(RoomEvent):
    type: Literal["session.ended"] = "session.ended"


class SessionUpdatedEvent(RoomEvent):
    """A host changed the session (title, teaching mode, lock); ``session`` as REST shows it."""

    type: Literal["session.updated"] = "session.updated"
    session: dict[str, Any]


class MemberRemovedEvent(RoomEvent):
    """``user`` left the session, or a host removed them; their sockets close with 4403."""

    type: Literal["member.removed"] = "member.removed"
    user: UserRef


class MemberRoleEvent(RoomEvent):
    """A host made ``user`` a host, or a plain member again; what they may do changes at once."""

    type: Literal["member.role"] = "member.role"
    user: UserRef
    role: Literal["host", "member"]


class MaterialAddedEvent(RoomEvent):
    """A file was added to the session's topic; ``material`` is as REST shows it."""

    type: Literal["material.added"] = "material.added"
    material: dict[str, Any]


class MaterialRemovedEvent(RoomEvent):
    type: Literal["material.removed"] = "material.removed"
    material_id: int


AnyRoomEvent = Annotated[
    PresenceEvent
    | ChatEvent
    | AskEvent
    | AgentStartEvent
    | AgentDeltaEvent
    | AgentDoneEvent
    | AgentFallbackEvent
    | AgentErrorEvent
    | QuizEvent
    | QuizResultEvent
    | ProgressEvent
    | TopicChangedEvent
    | SessionEndedEvent
    | SessionUpdatedEvent
    | MemberRemovedEvent
    | MemberRoleEvent
    | MaterialAddedEvent
    | MaterialRemovedEvent,
    Field(discriminator="type"),
]
_ROOM_EVENTS: TypeAdapter[AnyRoomEvent] = TypeAdapter(AnyRoomEvent)


def parse_room_event(data: dict[str, Any]) -> AnyRoomEvent | None:
    """A received room event as its typed model (``seq`` is not part of it).

    ``None`` for a type this version does not know or a shape it cannot read, so a client
    keeps working when a newer server adds events.
    """
    try:
        return _ROOM_EVENTS.validate_python(data)
    except ValidationError:
        return None


# Events that are worth keeping in the transcript. Everything else a room log carries is
# transient: deltas are summed up by their turn's terminal event.
TRANSIENT_EVENT_TYPES = frozenset({"agent.delta"})


def encode_event(event: RoomEvent) -> str:
    """Encode an event without ``seq``; ``type`` comes first so it can be peeked cheaply."""
    body = event.model_dump(mode="json", exclude_none=True)
    # Optional fields that are unset are left out; a required one that is null stays, as null
    # (``topic.changed`` to no topic says ``"topic": null``).
    by_alias = event.model_config.get("serialize_by_alias", False)
    for name, field in type(event).model_fields.items():
        key = (field.alias or name) if by_alias else name
        if field.is_required() and key not in body:
            body[key] = None
    ordered = {"type": body.pop("type"), **body}
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":"))


# The layout of a logged event on the wire: ``{"seq":N,"type":"T",...}``. The log splices the
# number in front of the encoded body (:func:`encode_event` puts ``type`` first), and readers
# find both again without decoding the JSON. ``log_append.lua`` writes the same splice; the log
# conformance suite checks that it matches :func:`encode_with_seq`.
_SEQ_PREFIX = '{"seq":'
_TYPE_PREFIX = ',"type":"'
_BODY_PREFIX = '{"type":"'


def check_event_body(body: str) -> None:
    """Raise ValueError unless ``body`` is laid out as :func:`encode_event` makes it."""
    if not body.startswith(_BODY_PREFIX) or not body.endswith("}"):
        raise ValueError('an encoded event is a JSON object starting with "type"')


def encode_with_seq(seq: int, body: str) -> str:
    """Splice ``seq`` into an encoded event: ``{"seq":N,`` + the rest of the object.

    Raises ValueError unless ``body`` passes :func:`check_event_body` and ``seq`` is positive.
    """
    check_event_body(body)
    if seq < 1:
        raise ValueError(f"seq {seq} is not a positive integer")
    return f"{_SEQ_PREFIX}{seq},{body[1:]}"


def peek_seq(frame: str) -> int:
    """The ``seq`` of a frame made by :func:`encode_with_seq`, without decoding the JSON.

    Raises ValueError for a frame not in that layout.
    """
    if not frame.startswith(_SEQ_PREFIX):
        raise ValueError("a logged event starts with its seq")
    end = frame.find(",", 7)
    digits = frame[7:end]
    if end < 0 or not digits.isdigit() or not digits.isascii():
        raise ValueError("a logged event's seq is an integer followed by a comma")
    return int(digits)


def peek_type(frame: str) -> str:
    """The ``type`` of a frame made by :func:`encode_with_seq`, without decoding the JSON.

    Raises ValueError for a frame not in that layout (``type`` right after ``seq``).
    """
    start = frame.find(_TYPE_PREFIX, 7)
    if start < 8 or not frame.startswith(_SEQ_PREFIX) or not frame[7:start].isdigit():
        raise ValueError("a logged event has its type right after its seq")
    start += len(_TYPE_PREFIX)
    end = frame.find('"', start)
    if end < 0:
        raise ValueError("a logged event's type is a string")
    return frame[start:end]


# Ephemeral frames carry no ``seq`` and are not logged.


def welcome_frame(
    *,
    session_id: int,
    user: UserRef,
    members: list[UserRef],
    topic: dict[str, Any] | None,
    seq: int,
    resumed: bool,
    epoch: str,
) -> str:
    return json.dumps(
        {
            "type": "welcome",
            "session_id": session_id,
            "user": user.model_dump(),
            "members": [m.model_dump() for m in members],
            "topic": topic,
            "seq": seq,
            "resumed": resumed,
            "epoch": epoch,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def error_frame(code: ErrorCode, message: str) -> str:
    return json.dumps({"type": "error", "code": code.value, "message": message})


def typing_frame(user: UserRef) -> str:
    return json.dumps({"type": "typing", "user": user.model_dump()}, ensure_ascii=False)


PONG_FRAME = '{"type":"pong"}'
