"""The room WebSocket as an AsyncAPI 3.0 document (served at ``GET /asyncapi.json``).

Frames that have a pydantic model in :mod:`protocol` get their schema from the model, so the
document cannot drift from the validation the server runs; the others are written here from
the contract until they get a model. The document describes a *client* of the room socket:
the ``send`` operation lists what a client sends, ``receive`` what it receives.
"""

from __future__ import annotations

import copy
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from protocol import PROTOCOL_VERSION, events, frames
from protocol.errors import (
    AGENT_ERROR_CODES,
    CLOSE_CODES,
    ERROR_CODES,
    FRAME_ERROR_CODES,
    RETRY_AFTER_MAX_MS,
    RETRY_HINT_KEY,
    RETRY_HINT_PATTERN,
    AgentErrorCode,
    CloseCode,
)

JSON = dict[str, Any]

ASYNCAPI_VERSION = "3.0.0"
CHANNEL_ID = "room"
CHANNEL_ADDRESS = "/ws/sessions/{session_id}"
_SCHEMA_REF = "#/components/schemas/{model}"

# The room events of the contract, in the order the document lists them.
ROOM_EVENT_TYPES = (
    "presence",
    "chat",
    "ask",
    "agent.start",
    "agent.delta",
    "agent.done",
    "agent.fallback",
    "agent.error",
    "quiz",
    "quiz.result",
    "progress",
    "topic.changed",
    "session.ended",
    "session.updated",
    "member.removed",
    "member.role",
    "material.added",
    "material.removed",
)
EPHEMERAL_TYPES = ("welcome", "pong", "typing", "error")

# Message tags: what kind of frame a message is.
CLIENT_FRAME = "client frame"
ROOM_EVENT = "room event"
EPHEMERAL = "ephemeral frame"

_CLIENT_ANSWERS = {
    "chat": "Answered by a `chat` room event to every member (the sender included).",
    "ask": "Answered by an `ask` room event, then the tutor's turn: `agent.start`, "
    "`agent.delta`*, then `agent.done` or `agent.error`. Asks are answered one at a time, "
    "in `seq` order.",
    "cancel": "Stops the turn: no further `agent.delta`; its terminal event has "
    '`"stopped": true`. `error` `not_found` if there is no such turn.',
    "answer": "Answered by a `quiz.result` room event and a `progress` event.",
    "typing": "The other members get an ephemeral `typing` frame; nothing is logged.",
    "ping": "Answered by `pong` to the sender only.",
}


def _ref(name: str) -> JSON:
    return {"$ref": _SCHEMA_REF.format(model=name)}


def _obj(required: list[str], **properties: JSON) -> JSON:
    # Server frames may grow new fields, so hand-written schemas never forbid extra ones.
    return {"type": "object", "properties": properties, "required": required}


_STRING: JSON = {"type": "string"}
_TYPE_ID: JSON = {"type": ["integer", "string"], "description": "Opaque id."}


def _const(value: str) -> JSON:
    return {"type": "string", "const": value}


def _event(kind: str, required: list[str], **properties: JSON) -> JSON:
    return _obj(["type", "ts", *required], type=_const(kind), ts=_STRING, **properties)


# Schemas for frames without a pydantic model yet. Room events get ``seq`` added later.
_SHARED_SCHEMAS: dict[str, JSON] = {
    "Topic": _obj(
        ["id", "title"],
        id=_TYPE_ID,
        title=_STRING,
        description={"type": ["string", "null"]},
        owner_id=_TYPE_ID,
        created_at={"type": "string", "format": "date-time"},
    ),
}

_HAND_EPHEMERAL: dict[str, tuple[str, JSON]] = {
    "welcome": (
        "WelcomeFrame",
        _obj(
            ["type", "session_id", "user", "members", "topic", "seq", "resumed", "epoch"],
            type=_const("welcome"),
            session_id={"type": "integer"},
            user=_ref("UserRef"),
            members={"type": "array", "items": _ref("UserRef")},
            topic={"anyOf": [_ref("Topic"), {"type": "null"}]},
            seq={"type": "integer", "minimum": 0, "description": "The log's head."},
            resumed={"type": "boolean"},
            epoch={"type": "string", "description": "The log's epoch; send it back on resume."},
        ),
    ),
    "pong": ("PongFrame", _obj(["type"], type=_const("pong"))),
    "typing": ("TypingNotice", _obj(["type", "user"], type=_const("typing"), user=_ref("UserRef"))),
    "error": (
        "ErrorFrame",
        _obj(
            ["type", "code", "message"],
            type=_const("error"),
            code={"type": "string", "enum": [code.value for code in FRAME_ERROR_CODES]},
            message={"type": "string", "description": "For people; branch on `code`."},
        ),
    ),
}

_TURN_ID: JSON = {"type": "string"}
_HAND_EVENTS: dict[str, tuple[str, JSON]] = {
    "agent.start": (
        "AgentStartEvent",
        _event(
            "agent.start",
            ["turn_id", "in_reply_to"],
            turn_id=_TURN_ID,
            in_reply_to={"type": "integer", "description": "The `seq` of the `ask` answered."},
        ),
    ),
    "agent.delta": (
        "AgentDeltaEvent",
        _event("agent.delta", ["turn_id", "text"], turn_id=_TURN_ID, text=_STRING),
    ),
    "agent.done": (
        "AgentDoneEvent",
        _event(
            "agent.done",
            ["turn_id", "text", "usage", "citations", "stopped"],
            turn_id=_TURN_ID,
            text={"type": "string", "description": "The turn's deltas concatenated."},
            usage=_ref("Usage"),
            citations={"type": "array", "items": _ref("Citation")},
            stopped={"type": "boolean", "description": "True when the turn was cancelled."},
        ),
    ),
    "agent.error": (
        "AgentErrorEvent",
        _event(
            "agent.error",
            ["turn_id", "code", "message"],
            turn_id=_TURN_ID,
            code=_STRING,
            message=_STRING,
        ),
    ),
    "quiz": (
        "QuizEvent",
        _event(
            "quiz",
            ["quiz_id", "question", "choices"],
            quiz_id=_STRING,
            question=_STRING,
            choices={"type": "array", "items": _STRING, "minItems": 2, "maxItems": 26},
        ),
    ),
    "quiz.result": (
        "QuizResultEvent",
        _event(
            "quiz.result",
            ["quiz_id", "user", "correct"],
            quiz_id=_STRING,
            user=_ref("UserRef"),
            correct={"type": "boolean"},
        ),
    ),
    "progress": (
        "ProgressEvent",
        _event(
            "progress",
            ["user", "concept", "mastery"],
            user=_ref("UserRef"),
            concept=_STRING,
            mastery={"type": "number", "minimum": 0, "maximum": 1},
        ),
    ),
}


class _Components:
    """Collects component schemas; a name reused for a different schema is a bug."""

    def __init__(self) -> None:
        self.schemas: dict[str, JSON] = {}

    def add(self, name: str, schema: JSON) -> None:
        held = self.schemas.setdefault(name, schema)
        if held != schema:
            raise ValueError(f"two different schemas are named {name!r}")

    def add_model(self, model: type[BaseModel], *, mode: JsonSchemaMode = "validation") -> str:
        schema = model.model_json_schema(ref_template=_SCHEMA_REF, mode=mode)
        for name, sub in schema.pop("$defs", {}).items():
            self.add(name, sub)
        self.add(model.__name__, schema)
        return model.__name__


def _frame_type(model: type[BaseModel]) -> str:
    field = model.model_fields["type"]
    if isinstance(field.default, str):
        return field.default
    (value,) = get_args(field.annotation)
    return str(value)


def client_frame_models() -> dict[str, type[BaseModel]]:
    """Every model of the ``ClientFrame`` union, by its ``type``."""
    union = get_args(frames.ClientFrame)[0]
    return {_frame_type(model): model for model in get_args(union)}


def room_event_models() -> dict[str, type[events.RoomEvent]]:
    """Every room event model :mod:`protocol.events` defines, by its ``type``."""
    found: dict[str, type[events.RoomEvent]] = {}
    for value in vars(events).values():
        # Intermediate bases (no ``type`` default of their own) are not events on the wire.
        if (
            isinstance(value, type)
            and issubclass(value, events.RoomEvent)
            and isinstance(value.model_fields["type"].default, str)
        ):
            found[_frame_type(value)] = value
    return found


def _as_room_event(schema: JSON) -> JSON:
    """Add ``seq``; optional fields that are null are omitted on the wire, required ones are
    sent as null (see ``protocol.events.encode_event``)."""
    props: JSON = schema.setdefault("properties", {})
    required = [name for name in schema.get("required", []) if name != "type"]
    for name, prop in props.items():
        branches = prop.get("anyOf")
        if name in required:
            continue
        if isinstance(branches, list) and {"type": "null"} in branches:
            kept = [b for b in branches if b != {"type": "null"}]
            del prop["anyOf"]
            prop.pop("default", None)
            if len(kept) == 1:
                prop.update(kept[0])
            else:
                prop["anyOf"] = kept
            required = [r for r in required if r != name]
    seq: JSON = {"type": "integer", "minimum": 1, "description": "Position in the session log."}
    schema["properties"] = {"seq": seq, **props}
    schema["required"] = ["seq", "type", *required]
    return schema


def _message(kind: str, schema_name: str, tag: str, description: str = "") -> JSON:
    message: JSON = {
        "name": kind,
        "title": kind,
        "summary": f"{tag.capitalize()} `{kind}`.",
        "contentType": "application/json",
        "payload": _ref(schema_name),
        "tags": [{"name": tag}],
    }
    if description:
        message["description"] = description
    return message


def _query_schema() -> JSON:
    return {
        "type": "object",
        "properties": {
            "token": {
                "type": "string",
                "description": "`participant_token` from `POST /api/connection-details`.",
            },
            "last_seq": {
                "type": "integer",
                "minimum": 0,
                "description": "The highest `seq` the client holds; asks for a replay.",
            },
            "epoch": {
                "type": "string",
                "description": "The `epoch` of the welcome that `last_seq` came from.",
            },
        },
        "required": ["token"],
    }


def _close_entry(code: CloseCode) -> JSON:
    spec = CLOSE_CODES[code]
    entry: JSON = {
        "code": code.value,
        "name": code.name.lower(),
        "description": spec.meaning,
        "client_action": spec.action,
        "reconnect": spec.reconnect.value,
    }
    if spec.retry_hint:
        entry["retry_hint"] = {
            "description": "The close reason may carry how long to wait at least before "
            "reconnecting, as `retry_after_ms=<int>` (e.g. `busy; retry_after_ms=250`); "
            "a value above `max_ms` is read as `max_ms`.",
            "key": RETRY_HINT_KEY,
            "pattern": RETRY_HINT_PATTERN,
            "unit": "ms",
            "max_ms": RETRY_AFTER_MAX_MS,
        }
    return entry


def _codes_markdown() -> str:
    lines = ["## Error codes (`error` frames; the socket stays open)", ""]
    lines += [f"- `{code.value}`: {ERROR_CODES[code].meaning}" for code in FRAME_ERROR_CODES]
    lines += ["", "## Agent error codes (`agent.error`)", ""]
    lines += [f"- `{code.value}`: {AGENT_ERROR_CODES[code].meaning}" for code in AgentErrorCode]
    lines += ["", "## Close codes", ""]
    for code in CloseCode:
        spec = CLOSE_CODES[code]
        lines.append(f"- `{code.value}` {code.name.lower()}: {spec.meaning} {spec.action}")
    return "\n".join(lines)


_INTRO = """\
The studyroom room socket, protocol version {version}. Text frames, one JSON object each, with
a `type`. This document describes a client: `send` lists what a client sends, `receive` what
it receives.

**Room events** carry `seq`: it starts at 1 for the session, grows by exactly 1 per event and
is the same for every member on every server process. **Ephemeral frames** (`welcome`, `pong`,
`typing`, `error`) carry no `seq`. The server first sends `welcome`; with `last_seq=N` it then
replays every room event with `seq > N` before live ones and `resumed` is true. When the events
after N are no longer held (or `epoch` differs), `resumed` is false, nothing is replayed and
the client reloads the transcript from `GET /api/sessions/{{id}}/messages`.

"""


def build_asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of the room socket; a fresh, JSON-serialisable dict."""
    components = _Components()
    channel_messages: JSON = {}
    component_messages: JSON = {}
    sends: list[JSON] = []
    receives: list[JSON] = []

    def register(key: str, message: JSON, bucket: list[JSON]) -> None:
        component_messages[key] = message
        channel_messages[key] = {"$ref": f"#/components/messages/{key}"}
        bucket.append({"$ref": f"#/channels/{CHANNEL_ID}/messages/{key}"})

    for kind, model in client_frame_models().items():
        name = components.add_model(model)
        answer = _CLIENT_ANSWERS.get(kind, "")
        register(f"client.{kind}", _message(kind, name, CLIENT_FRAME, answer), sends)

    for kind, (name, schema) in _HAND_EPHEMERAL.items():
        components.add(name, copy.deepcopy(schema))
        register(f"server.{kind}", _message(kind, name, EPHEMERAL), receives)

    models = room_event_models()
    for kind in (*ROOM_EVENT_TYPES, *sorted(models.keys() - set(ROOM_EVENT_TYPES))):
        event_model = models.get(kind)
        if event_model is not None:
            name = components.add_model(event_model, mode="serialization")
            components.schemas[name] = _as_room_event(components.schemas[name])
        else:
            name, schema = _HAND_EVENTS[kind]
            components.add(name, _as_room_event(copy.deepcopy(schema)))
        register(f"event.{kind}", _message(kind, name, ROOM_EVENT), receives)

    for name, schema in _SHARED_SCHEMAS.items():
        components.add(name, copy.deepcopy(schema))

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "studyroom room protocol",
            "version": str(PROTOCOL_VERSION),
            "description": _INTRO.format(version=PROTOCOL_VERSION) + _codes_markdown(),
            "x-error-codes": [
                {
                    "code": code.value,
                    "description": ERROR_CODES[code].meaning,
                    "client_action": ERROR_CODES[code].action,
                }
                for code in FRAME_ERROR_CODES
            ],
            "x-agent-error-codes": [
                {
                    "code": code.value,
                    "description": AGENT_ERROR_CODES[code].meaning,
                    "client_action": AGENT_ERROR_CODES[code].action,
                }
                for code in AgentErrorCode
            ],
            "x-close-codes": [_close_entry(code) for code in CloseCode],
        },
        "defaultContentType": "application/json",
        "channels": {
            CHANNEL_ID: {
                "address": CHANNEL_ADDRESS,
                "title": "Session room",
                "description": "One session's room. Connect with `GET` and the query below.",
                "parameters": {"session_id": {"description": "The session's id."}},
                "messages": channel_messages,
                "bindings": {
                    "ws": {"method": "GET", "query": _query_schema(), "bindingVersion": "0.1.0"}
                },
            }
        },
        "operations": {
            "send": {
                "action": "send",
                "channel": {"$ref": f"#/channels/{CHANNEL_ID}"},
                "summary": "Frames a client sends (client to server).",
                "messages": sends,
            },
            "receive": {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{CHANNEL_ID}"},
                "summary": "Frames a client receives: ephemeral frames and room events.",
                "messages": receives,
            },
        },
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "messages": component_messages,
        },
    }
