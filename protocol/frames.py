"""Frames a client sends, and how raw text becomes one of them or a protocol error."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from protocol.errors import ErrorCode

# Identifiers clients choose; bounded so they cannot be used to bloat the room log.
ClientMsgId = Annotated[str, Field(min_length=1, max_length=64)]
TurnId = Annotated[str, Field(min_length=1, max_length=64)]
QuizId = Annotated[str, Field(min_length=1, max_length=64)]


class _Frame(BaseModel):
    # Strict: `"choice": true` or `"1"` is not a number; JSON types are taken as they are.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ChatFrame(_Frame):
    type: Literal["chat"]
    text: Annotated[str, Field(min_length=1)]
    client_msg_id: ClientMsgId | None = None


class AskFrame(_Frame):
    type: Literal["ask"]
    text: Annotated[str, Field(min_length=1)]
    client_msg_id: ClientMsgId | None = None


class CancelFrame(_Frame):
    type: Literal["cancel"]
    turn_id: TurnId


class AnswerFrame(_Frame):
    type: Literal["answer"]
    quiz_id: QuizId
    choice: Annotated[int, Field(ge=0, le=25)]


class TypingFrame(_Frame):
    type: Literal["typing"]


class PingFrame(_Frame):
    type: Literal["ping"]


class ReviewFrame(_Frame):
    """Pose again the quiz cards that are due for the members in the room."""

    type: Literal["review"]


ClientFrame = Annotated[
    ChatFrame | AskFrame | CancelFrame | AnswerFrame | TypingFrame | PingFrame | ReviewFrame,
    Field(discriminator="type"),
]
CLIENT_FRAME_TYPES = frozenset({"chat", "ask", "cancel", "answer", "typing", "ping", "review"})

_client_frame: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


@dataclass(frozen=True, slots=True)
class FrameError:
    """Why a frame was refused; becomes an ``error`` frame, and the socket stays open."""

    code: ErrorCode
    message: str


def parse_client_frame(raw: str, *, max_text_chars: int) -> ClientFrame | FrameError:
    """Validate one text frame. Never raises: every failure is a :class:`FrameError`."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return FrameError(ErrorCode.INVALID_FRAME, "frame is not valid JSON")
    if not isinstance(data, dict):
        return FrameError(ErrorCode.INVALID_FRAME, "frame must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        return FrameError(ErrorCode.INVALID_FRAME, "frame needs a string 'type'")
    if kind not in CLIENT_FRAME_TYPES:
        return FrameError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {kind[:40]!r}")
    try:
        frame = _client_frame.validate_python(data)
    except ValidationError as exc:
        return FrameError(ErrorCode.INVALID_FRAME, _describe(exc))
    if isinstance(frame, ChatFrame | AskFrame):
        if not frame.text.strip():
            return FrameError(ErrorCode.INVALID_FRAME, "text must not be blank")
        if len(frame.text) > max_text_chars:
            return FrameError(
                ErrorCode.INVALID_FRAME, f"text is longer than {max_text_chars} characters"
            )
    return frame


def _describe(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"][1:]) or "frame"
    return f"{where}: {first['msg']}"
