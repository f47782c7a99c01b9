"""What ``server/rooms/uvicorn_sink.py`` borrows from uvicorn's WebSocket protocol still exists.

The adapter subclasses a class that is not uvicorn's public API. A uvicorn release that
renames, removes or changes what the adapter reads or replaces fails here, naming it, before
any socket misbehaves; pyproject.toml pins the releases this passed on.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from server.rooms.uvicorn_sink import LeanEvent, LeanQueue, RoomWebSocketProtocol

BASE_MODULE = "uvicorn.protocols.websockets.websockets_sansio_impl"


def base_class() -> type[Any]:
    module = importlib.import_module(BASE_MODULE)
    base = getattr(module, "WebSocketsSansIOProtocol", None)
    assert base is not None, f"{BASE_MODULE}.WebSocketsSansIOProtocol is gone"
    return base  # type: ignore[no-any-return]


def base_source() -> str:
    return inspect.getsource(base_class())


async def _app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("never called")


def new_protocol(cls: type[Any], app_state: dict[str, Any] | None = None) -> Any:
    config = uvicorn.Config(_app, ws=cls, log_level="warning")
    config.load()
    return cls(
        config=config,
        server_state=ServerState(),
        app_state=app_state or {},
        _loop=asyncio.get_running_loop(),
    )


def test_the_adapter_subclasses_uvicorns_sansio_protocol() -> None:
    base = base_class()
    assert issubclass(base, asyncio.Protocol), "WebSocketsSansIOProtocol is no asyncio.Protocol"
    assert issubclass(RoomWebSocketProtocol, base)


@pytest.mark.parametrize(
    ("name", "params", "coroutine"),
    [
        ("__init__", ["self", "config", "server_state", "app_state", "_loop"], False),
        ("connection_made", ["self", "transport"], False),
        ("handle_connect", ["self", "event"], False),
        ("send", ["self", "message"], True),
        ("receive", ["self"], True),
        ("pause_writing", ["self"], False),
        ("resume_writing", ["self"], False),
    ],
)
def test_methods_the_adapter_overrides_or_relies_on(
    name: str, params: list[str], coroutine: bool
) -> None:
    method: Callable[..., Any] | None = getattr(base_class(), name, None)
    assert method is not None, f"WebSocketsSansIOProtocol.{name} is gone"
    found = list(inspect.signature(method).parameters)
    assert found == params, f"WebSocketsSansIOProtocol.{name}{tuple(found)}: expected {params}"
    assert inspect.iscoroutinefunction(method) is coroutine, (
        f"WebSocketsSansIOProtocol.{name} is {'not ' if coroutine else ''}a coroutine function"
    )


@pytest.mark.parametrize(
    ("attribute", "kind"),
    [
        ("queue", asyncio.Queue),
        ("writable", asyncio.Event),
        ("app_state", dict),
        ("handshake_complete", bool),
        ("close_sent", bool),
        ("disconnected", bool),
        ("close_timeout", float),
        ("loop", asyncio.AbstractEventLoop),
        ("transport", type(None)),  # set by connection_made
    ],
)
async def test_attributes_the_adapter_reads_or_replaces(attribute: str, kind: type[Any]) -> None:
    protocol = new_protocol(base_class())
    assert hasattr(protocol, attribute), f"WebSocketsSansIOProtocol().{attribute} is gone"
    value = getattr(protocol, attribute)
    assert isinstance(value, kind), (
        f"WebSocketsSansIOProtocol().{attribute} is a {type(value).__name__}, "
        f"expected {kind.__name__}"
    )


async def test_the_websockets_connection_reports_its_extensions() -> None:
    protocol = new_protocol(base_class())
    assert isinstance(getattr(protocol.conn, "extensions", None), list), (
        "WebSocketsSansIOProtocol().conn.extensions is gone"
    )


@pytest.mark.parametrize(
    ("attribute", "lean"),
    [("queue", LeanQueue), ("writable", LeanEvent)],
)
def test_the_lean_replacements_implement_every_method_uvicorn_calls(
    attribute: str, lean: type[Any]
) -> None:
    called = set(re.findall(rf"self\.{attribute}\.(\w+)", base_source()))
    assert called, f"uvicorn no longer uses self.{attribute}"
    missing = sorted(name for name in called if not callable(getattr(lean, name, None)))
    assert not missing, f"{lean.__name__} lacks {missing}, which uvicorn calls on {attribute}"


def test_handshake_request_and_response_are_only_used_during_the_handshake() -> None:
    # The adapter drops both once the socket is accepted: uvicorn must not need them after.
    users = sorted(
        name
        for name, member in inspect.getmembers(base_class(), inspect.isfunction)
        if re.search(r"self\.(request|response)\b", inspect.getsource(member))
    )
    assert users == ["handle_connect", "send"], (
        f"uvicorn uses self.request/self.response in {users}"
    )
    accept = inspect.getsource(base_class().send).split('elif message["type"] == "websocket.close"')
    assert "self.response" in accept[0] and "self.response" not in "".join(accept[1:]), (
        "WebSocketsSansIOProtocol.send uses self.response outside the accept branch"
    )


def test_handle_connect_builds_the_scope_with_extensions() -> None:
    source = inspect.getsource(base_class().handle_connect)
    assert re.search(r"self\.scope\b[^=]*=", source), "handle_connect no longer sets self.scope"
    assert '"extensions"' in source, "handle_connect's scope has no extensions"


async def test_the_adapter_builds_with_its_lean_state() -> None:
    protocol = new_protocol(RoomWebSocketProtocol, {"ws_send_buffer_bytes": 8192})
    assert isinstance(protocol.queue, LeanQueue)
    assert isinstance(protocol.writable, LeanEvent)
    assert protocol.writable.is_set()


def test_no_other_module_imports_uvicorns_protocol_internals() -> None:
    root = Path(__file__).resolve().parents[3]
    importers = sorted(
        str(path.relative_to(root))
        for package in ("server", "protocol", "clients")
        for path in (root / package).rglob("*.py")
        if re.search(r"^\s*(from|import) uvicorn\.protocols", path.read_text(), re.MULTILINE)
    )
    assert importers == ["server/rooms/uvicorn_sink.py"]
