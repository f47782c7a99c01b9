"""The room socket's server options come from the settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.config import Settings
from server.rooms.uvicorn_sink import RoomWebSocketProtocol
from server.runner import WS_PROTOCOL, uvicorn_options

SECRET = "test-secret-key-that-is-long-enough-for-hs256"


def test_room_sockets_are_served_by_the_adapter_with_the_configured_pings() -> None:
    settings = Settings(env="test", secret_key=SECRET, ws_ping_interval_s=7, ws_ping_timeout_s=3)
    options = uvicorn_options(settings)
    assert (options["ws_ping_interval"], options["ws_ping_timeout"]) == (7.0, 3.0)
    assert options["ws"] == WS_PROTOCOL
    module, name = WS_PROTOCOL.split(":")
    assert (module, name) == (RoomWebSocketProtocol.__module__, RoomWebSocketProtocol.__name__)


def test_the_defaults_are_todays() -> None:
    settings = Settings(env="test", secret_key=SECRET)
    assert (
        settings.ws_write_batch_max,
        settings.ws_ping_interval_s,
        settings.ws_ping_timeout_s,
    ) == (64, 20.0, 20.0)


@pytest.mark.parametrize(
    "bad", [{"ws_write_batch_max": 0}, {"ws_ping_interval_s": 0}, {"ws_ping_timeout_s": -1}]
)
def test_out_of_range_values_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        Settings(env="test", secret_key=SECRET, **bad)  # type: ignore[arg-type]
