"""The AsyncAPI document a client author reads at ``/asyncapi.json`` matches the wire."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from protocol import PROTOCOL_VERSION
from protocol.errors import (
    CLOSE_CODES,
    FINAL_CLOSE_CODES,
    FRAME_ERROR_CODES,
    AgentErrorCode,
    CloseCode,
    ErrorCode,
    retry_after_ms,
)
from protocol.events import (
    PONG_FRAME,
    ChatEvent,
    PresenceEvent,
    SessionEndedEvent,
    TopicChangedEvent,
    UserRef,
    encode_event,
    encode_with_seq,
    error_frame,
    now_iso,
    typing_frame,
    welcome_frame,
)
from protocol.frames import CLIENT_FRAME_TYPES, FrameError, parse_client_frame
from server.asyncapi import (
    EPHEMERAL,
    EPHEMERAL_TYPES,
    ROOM_EVENT,
    ROOM_EVENT_TYPES,
    build_asyncapi,
)

DOC = build_asyncapi()
ALICE = UserRef(id=1, name="alice")
USER = {"id": 1, "name": "alice"}

CLIENT_SAMPLES: dict[str, dict[str, Any]] = {
    "chat": {"type": "chat", "text": "hello", "client_msg_id": "m-1"},
    "ask": {"type": "ask", "text": "what is a monad?"},
    "cancel": {"type": "cancel", "turn_id": "t-1"},
    "answer": {"type": "answer", "quiz_id": "q-1", "choice": 2},
    "typing": {"type": "typing"},
    "ping": {"type": "ping"},
    "review": {"type": "review"},
}
CLIENT_INVALID: dict[str, dict[str, Any]] = {
    "chat": {"type": "chat"},
    "ask": {"type": "ask", "text": ""},
    "cancel": {"type": "cancel"},
    "answer": {"type": "answer", "quiz_id": "q-1", "choice": -1},
    "typing": {"type": "typing", "extra": 1},
    "ping": {"type": "pong"},
    "review": {"type": "review", "cards": 3},
}
TS = "2025-01-01T00:00:00.000Z"
EVENT_SAMPLES: dict[str, dict[str, Any]] = {
    "agent.start": {"type": "agent.start", "turn_id": "t-1", "in_reply_to": 4, "ts": TS},
    "agent.delta": {"type": "agent.delta", "turn_id": "t-1", "text": "A monad", "ts": TS},
    "agent.done": {
        "type": "agent.done",
        "turn_id": "t-1",
        "text": "A monad is…",
        "usage": {"tokens_in": 10, "tokens_out": 3},
        "citations": [{"material_id": 3, "chunk_id": 9, "page": 2}],
        "stopped": False,
        "model": "SmolLM2-135M-Instruct",
        "ttft_ms": 120,
        "ts": TS,
    },
    "agent.error": {
        "type": "agent.error",
        "turn_id": "t-1",
        "code": "unavailable",
        "message": "no model",
        "ts": TS,
    },
    "quiz": {
        "type": "quiz",
        "quiz_id": "q-1",
        "question": "2 + 2?",
        "choices": ["3", "4"],
        "ts": TS,
    },
    "quiz.result": {
        "type": "quiz.result",
        "quiz_id": "q-1",
        "user": USER,
        "choice": 1,
        "correct": True,
        "ts": TS,
    },
    "progress": {
        "type": "progress",
        "user": USER,
        "concept": "monads",
        "mastery": 0.4,
        "source": "quiz",
        "ts": TS,
    },
}


# -- a small JSON Schema checker (the keywords the document uses) ---------------------------


def resolve(ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = DOC
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def errors(schema: dict[str, Any], value: Any, where: str = "$") -> list[str]:
    if "$ref" in schema:
        return errors(resolve(schema["$ref"]), value, where)
    found: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_TYPES[k](value) for k in kinds):
            return [f"{where}: {value!r} is not {kinds}"]
    if "const" in schema and value != schema["const"]:
        found.append(f"{where}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in {schema['enum']}")
    if "anyOf" in schema and all(errors(s, value, where) for s in schema["anyOf"]):
        found.append(f"{where}: matches no anyOf branch")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            found.append(f"{where}: too short")
        if len(value) > schema.get("maxLength", len(value)):
            found.append(f"{where}: too long")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < schema.get("minimum", value):
            found.append(f"{where}: below minimum")
        if value > schema.get("maximum", value):
            found.append(f"{where}: above maximum")
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            found.append(f"{where}: wrong number of items")
        for i, item in enumerate(value):
            found += errors(schema.get("items", {}), item, f"{where}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        found += [f"{where}: missing {k!r}" for k in schema.get("required", []) if k not in value]
        for key, item in value.items():
            if key in props:
                found += errors(props[key], item, f"{where}.{key}")
            elif schema.get("additionalProperties", True) is False:
                found.append(f"{where}: unexpected {key!r}")
    return found


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def operation_messages(operation: str) -> dict[str, dict[str, Any]]:
    """The operation's messages by frame type."""
    found: dict[str, dict[str, Any]] = {}
    for ref in DOC["operations"][operation]["messages"]:
        message = resolve(resolve(ref["$ref"])["$ref"])
        found.setdefault(message["name"], message)
    return found


def payload_for(operation: str, kind: str) -> dict[str, Any]:
    payload: dict[str, Any] = operation_messages(operation)[kind]["payload"]
    schema: dict[str, Any] = resolve(payload["$ref"]) if "$ref" in payload else payload
    return schema


def receive_schema(kind: str, *, room_event: bool) -> dict[str, Any]:
    """The received message of ``kind`` that is (or is not) a room event."""
    tag = ROOM_EVENT if room_event else EPHEMERAL
    for ref in DOC["operations"]["receive"]["messages"]:
        message = resolve(resolve(ref["$ref"])["$ref"])
        if message["name"] == kind and message["tags"] == [{"name": tag}]:
            schema: dict[str, Any] = resolve(message["payload"]["$ref"])
            return schema
    raise AssertionError(f"no received {tag} {kind!r}")


# -- the document ---------------------------------------------------------------------------


def test_document_is_json_and_asyncapi_3() -> None:
    assert json.loads(json.dumps(DOC)) == DOC
    assert DOC["asyncapi"] == "3.0.0"
    assert DOC["info"]["version"] == str(PROTOCOL_VERSION)
    assert build_asyncapi() == DOC


def test_every_ref_resolves_inside_the_document() -> None:
    refs = [node["$ref"] for node in walk(DOC) if "$ref" in node]
    assert refs
    for ref in refs:
        resolve(ref)


def test_channel_is_the_room_socket_with_its_query() -> None:
    (channel,) = DOC["channels"].values()
    assert channel["address"] == "/ws/sessions/{session_id}"
    assert set(channel["parameters"]) == {"session_id"}
    query = channel["bindings"]["ws"]["query"]
    assert query["required"] == ["token"]
    assert query["properties"]["last_seq"]["type"] == "integer"
    assert query["properties"]["last_seq"]["minimum"] == 0
    assert query["properties"]["epoch"]["type"] == "string"
    for operation in DOC["operations"].values():
        assert resolve(operation["channel"]["$ref"]) is channel
        for ref in operation["messages"]:
            assert ref["$ref"].startswith("#/channels/")
            assert resolve(ref["$ref"]) in channel["messages"].values()


def test_every_contract_frame_is_a_message() -> None:
    assert DOC["operations"]["send"]["action"] == "send"
    assert DOC["operations"]["receive"]["action"] == "receive"
    assert set(operation_messages("send")) == CLIENT_FRAME_TYPES
    assert set(operation_messages("receive")) >= {*EPHEMERAL_TYPES, *ROOM_EVENT_TYPES}
    for kind in ROOM_EVENT_TYPES:
        schema = receive_schema(kind, room_event=True)
        assert schema["properties"]["type"]["const"] == kind
        assert schema["properties"]["seq"]["type"] == "integer"
    for kind in EPHEMERAL_TYPES:
        schema = receive_schema(kind, room_event=False)
        assert schema["properties"]["type"]["const"] == kind
        # welcome's seq is the log head, not a position of its own.
        assert "seq" not in schema["properties"] or kind == "welcome"


def test_error_and_close_codes_are_documented() -> None:
    info = DOC["info"]
    assert [e["code"] for e in info["x-error-codes"]] == [c.value for c in FRAME_ERROR_CODES]
    assert all(e["description"] and e["client_action"] for e in info["x-error-codes"])
    agents = [e["code"] for e in info["x-agent-error-codes"]]
    assert agents == [c.value for c in AgentErrorCode]
    closes = {c["code"]: c for c in info["x-close-codes"]}
    assert set(closes) == {c.value for c in CloseCode}
    assert all(c["description"] and c["client_action"] for c in closes.values())
    for code in (CloseCode.SERVICE_RESTART, CloseCode.SLOW_CONSUMER):
        assert closes[code]["reconnect"] == "with_last_seq"
    assert closes[CloseCode.UNAUTHORIZED]["reconnect"] == "after_new_connection_details"
    for code in (CloseCode.FORBIDDEN, CloseCode.SESSION_ENDED):
        assert closes[code]["reconnect"] == "no"
    # The document's policies are the catalogue's, and the final codes are exactly the "no"s.
    assert all(closes[c]["reconnect"] == CLOSE_CODES[c].reconnect.value for c in CloseCode)
    assert {c for c in CloseCode if closes[c]["reconnect"] == "no"} == FINAL_CLOSE_CODES
    for code in (*FRAME_ERROR_CODES, *AgentErrorCode, *CloseCode):
        assert f"`{code.value}`" in info["description"]


def test_the_retry_hint_is_described_where_a_close_may_carry_it() -> None:
    closes = {c["code"]: c for c in DOC["info"]["x-close-codes"]}
    hinted = {code for code, entry in closes.items() if "retry_hint" in entry}
    assert hinted == {CloseCode.TRY_AGAIN_LATER.value}
    hint = closes[CloseCode.TRY_AGAIN_LATER]["retry_hint"]
    assert hint["key"] == "retry_after_ms" and hint["unit"] == "ms"
    found = re.search(hint["pattern"], "busy; retry_after_ms=250")
    assert found is not None and found[1] == "250"
    assert hint["max_ms"] == retry_after_ms(CloseCode.TRY_AGAIN_LATER, "retry_after_ms=999999")


def test_error_frames_list_the_frame_codes() -> None:
    frame_codes = receive_schema("error", room_event=False)["properties"]["code"]
    assert frame_codes["enum"] == [c.value for c in FRAME_ERROR_CODES]


# -- schemas against real frames ------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CLIENT_FRAME_TYPES))
def test_client_frame_schema_matches_the_parser(kind: str) -> None:
    schema = payload_for("send", kind)
    good, bad = CLIENT_SAMPLES[kind], CLIENT_INVALID[kind]
    assert not isinstance(parse_client_frame(json.dumps(good), max_text_chars=100), FrameError)
    assert errors(schema, good) == []
    assert isinstance(parse_client_frame(json.dumps(bad), max_text_chars=100), FrameError)
    assert errors(schema, bad) != []


def test_ephemeral_frames_the_server_builds_match_their_schemas() -> None:
    topic = {"id": 3, "title": "FP", "description": None, "owner_id": 1, "created_at": TS}
    frames = {
        "welcome": welcome_frame(
            session_id=7,
            user=ALICE,
            members=[ALICE],
            topic=topic,
            seq=12,
            resumed=True,
            epoch="e1",
        ),
        "pong": PONG_FRAME,
        "typing": typing_frame(ALICE),
        "error": error_frame(ErrorCode.RATE_LIMITED, "slow down"),
    }
    for kind, frame in frames.items():
        assert errors(receive_schema(kind, room_event=False), json.loads(frame)) == [], kind
    no_topic = welcome_frame(
        session_id=7, user=ALICE, members=[], topic=None, seq=0, resumed=False, epoch="e1"
    )
    assert errors(receive_schema("welcome", room_event=False), json.loads(no_topic)) == []
    bad_code = {"type": "error", "code": "nope", "message": "x"}
    assert errors(receive_schema("error", room_event=False), bad_code) != []


def test_room_events_the_server_encodes_match_their_schemas() -> None:
    encoded = [
        PresenceEvent(event="join", user=ALICE, ts=now_iso()),
        ChatEvent(message_id="m1", user=ALICE, text="hi", ts=now_iso()),
        ChatEvent(message_id="m2", user=ALICE, text="hi", client_msg_id="c", ts=now_iso()),
        TopicChangedEvent(topic={"id": 1, "title": "FP"}, ts=now_iso()),
        TopicChangedEvent(topic=None, ts=now_iso()),
        SessionEndedEvent(ts=now_iso()),
    ]
    for seq, event in enumerate(encoded, start=1):
        frame = json.loads(encode_with_seq(seq, encode_event(event)))
        assert errors(receive_schema(event.type, room_event=True), frame) == [], frame
        unnumbered = {k: v for k, v in frame.items() if k != "seq"}
        assert errors(receive_schema(event.type, room_event=True), unnumbered) != []


@pytest.mark.parametrize("kind", sorted(EVENT_SAMPLES))
def test_tutor_events_match_the_contract_shapes(kind: str) -> None:
    schema = receive_schema(kind, room_event=True)
    sample = {"seq": 5, **EVENT_SAMPLES[kind]}
    assert errors(schema, sample) == []
    missing = next(k for k in schema["required"] if k not in ("seq", "type", "ts"))
    assert errors(schema, {k: v for k, v in sample.items() if k != missing}) != []
