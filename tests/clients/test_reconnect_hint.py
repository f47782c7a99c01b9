"""A busy server's retry hint, as the SDK and the terminal client take it: the SDK waits at
least ``retry_after_ms`` (plus jitter), and the terminal says the server is busy rather than
reporting an error."""

from __future__ import annotations

import pytest

from clients.cli.chat.room import reconnecting_notice
from clients.cli.runtime import explain
from clients.sdk import RoomBusy
from clients.sdk.room import reconnect_delay_s
from protocol.errors import CloseCode

BUSY = (int(CloseCode.TRY_AGAIN_LATER), "busy; retry_after_ms=1500")


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.5, 0.999])
def test_the_sdk_waits_at_least_the_hint(draw: float) -> None:
    delay = reconnect_delay_s(0.2, *BUSY, rng=lambda: draw)
    assert 1.5 <= delay < 1.5 * 1.5


def test_a_longer_backoff_wins_over_a_shorter_hint() -> None:
    assert reconnect_delay_s(8.0, *BUSY, rng=lambda: 0.5) == 8.0


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (CloseCode.TRY_AGAIN_LATER, "live state is unavailable"),
        (CloseCode.SERVICE_RESTART, "busy; retry_after_ms=1500"),
        (1006, "connection lost"),
    ],
)
def test_without_a_hint_the_backoff_is_jittered_as_before(code: int, reason: str) -> None:
    assert reconnect_delay_s(0.2, code, reason, rng=lambda: 0.0) == pytest.approx(0.1)
    assert reconnect_delay_s(0.2, code, reason, rng=lambda: 0.999) == pytest.approx(0.2998)


def test_the_terminal_says_the_server_is_busy() -> None:
    assert "busy" in reconnecting_notice(BUSY)
    assert reconnecting_notice((1006, "connection lost")) == "connection lost; reconnecting…"
    assert reconnecting_notice(None) == "connection lost; reconnecting…"
    error = explain(RoomBusy(*BUSY), "http://study.example")
    assert error is not None
    assert str(error) == (
        "the server at http://study.example is busy with other joins; try again in a moment"
    )
