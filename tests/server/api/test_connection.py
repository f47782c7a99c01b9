"""Connection details: the room's socket address and a participant token for it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import websockets

from server.api.routes.connection import room_url
from server.auth.tokens import decode_participant_token
from server.config import Settings

if TYPE_CHECKING:
    from tests.server.api.conftest import Api


async def test_connection_details(api: Api, api_server: Any) -> None:
    owner = await api.signup("owner", display_name="Dr. Owner")
    session = await api.session(owner, (await api.topic(owner))["id"])
    r = await api.client.post(
        "/api/connection-details", json={"session_id": session["id"]}, headers=owner.headers
    )
    assert r.status_code == 200
    details = r.json()
    assert set(details) == {
        "server_url",
        "session_id",
        "participant_name",
        "participant_token",
        "expires_at",
    }
    port = api_server.base_url.rsplit(":", 1)[1]
    assert details["server_url"] == f"ws://127.0.0.1:{port}/ws/sessions/{session['id']}"
    assert details["session_id"] == session["id"]
    assert details["participant_name"] == "Dr. Owner"
    expires_at = datetime.fromisoformat(details["expires_at"])
    assert expires_at > datetime.now(UTC)
    claims = decode_participant_token(api_server.settings, details["participant_token"])
    assert (claims.user_id, claims.session_id, claims.name) == (
        owner.id,
        session["id"],
        "Dr. Owner",
    )


async def test_details_open_the_room(api: Api) -> None:
    owner = await api.signup("owner")
    session = await api.session(owner, (await api.topic(owner))["id"])
    r = await api.client.post(
        "/api/connection-details", json={"session_id": session["id"]}, headers=owner.headers
    )
    details = r.json()
    url = f"{details['server_url']}?token={details['participant_token']}"
    async with websockets.connect(url, open_timeout=5) as ws:
        welcome = json.loads(await ws.recv(decode=True))
    assert welcome["type"] == "welcome"
    assert welcome["user"]["id"] == owner.id


async def test_connection_details_refusals(api: Api) -> None:
    owner = await api.signup("owner")
    stranger = await api.signup("stranger")
    session = await api.session(owner, (await api.topic(owner))["id"])
    body = {"session_id": session["id"]}
    r = await api.client.post("/api/connection-details", json=body, headers=stranger.headers)
    assert r.status_code == 403
    r = await api.client.post(
        "/api/connection-details", json={"session_id": 999999999}, headers=owner.headers
    )
    assert r.status_code == 404
    await api.client.post(f"/api/sessions/{session['id']}/end", headers=owner.headers)
    r = await api.client.post("/api/connection-details", json=body, headers=owner.headers)
    assert r.status_code == 409


async def test_public_url_sets_the_socket_address(make_server: Any, api_on: Any) -> None:
    running = await make_server(public_url="https://study.example/room-server/")
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10.0) as client:
        api = api_on(client)
        owner = await api.signup("owner")
        session = await api.session(owner, (await api.topic(owner))["id"])
        r = await client.post(
            "/api/connection-details", json={"session_id": session["id"]}, headers=owner.headers
        )
    expected = f"wss://study.example/room-server/ws/sessions/{session['id']}"
    assert r.json()["server_url"] == expected


@pytest.mark.parametrize(
    ("public_url", "request_base", "expected"),
    [
        (None, "http://10.0.0.5:8000/", "ws://10.0.0.5:8000/ws/sessions/7"),
        (None, "https://study.example/", "wss://study.example/ws/sessions/7"),
        ("http://study.example", "http://ignored/", "ws://study.example/ws/sessions/7"),
        ("https://study.example/", "http://ignored/", "wss://study.example/ws/sessions/7"),
        ("https://x.example/sub", "http://ignored/", "wss://x.example/sub/ws/sessions/7"),
    ],
)
def test_room_url(public_url: str | None, request_base: str, expected: str) -> None:
    settings = Settings(env="test", secret_key="k" * 40, public_url=public_url)
    request: Any = SimpleNamespace(base_url=request_base)
    assert room_url(settings, request, 7) == expected
