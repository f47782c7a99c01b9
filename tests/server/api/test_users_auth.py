"""Sign-up, login, and the bearer token every other /api route demands."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest

if TYPE_CHECKING:
    from tests.server.api.conftest import Api

PASSWORD = "correct horse battery staple"

# Every route that needs a token, with a body that would otherwise be acceptable in shape.
PROTECTED: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/users/me", None),
    ("POST", "/api/topics", {"title": "x"}),
    ("GET", "/api/topics", None),
    ("GET", "/api/topics/current", None),
    ("GET", "/api/topics/1", None),
    ("POST", "/api/sessions", {"topic_id": 1}),
    ("POST", "/api/sessions/join", {"join_code": "ABCDEFGH"}),
    ("GET", "/api/sessions/current", None),
    ("GET", "/api/sessions/1", None),
    ("PUT", "/api/sessions/1/topic", {"topic_id": 1}),
    ("POST", "/api/sessions/1/end", None),
    ("GET", "/api/sessions/1/messages", None),
    ("POST", "/api/connection-details", {"session_id": 1}),
]


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_create_user(client: httpx.AsyncClient, unique: Any) -> None:
    username = unique("ada")
    r = await client.post(
        "/api/users",
        json={"username": username, "password": PASSWORD, "display_name": "Ada L."},
    )
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"id", "username", "display_name"}
    assert body["username"] == username
    assert body["display_name"] == "Ada L."
    assert isinstance(body["id"], int)


async def test_display_name_defaults_to_username(client: httpx.AsyncClient, unique: Any) -> None:
    username = unique("bob")
    r = await client.post("/api/users", json={"username": username, "password": PASSWORD})
    assert r.status_code == 201
    assert r.json()["display_name"] == username


async def test_duplicate_username_is_409(client: httpx.AsyncClient, unique: Any) -> None:
    username = unique("carol")
    first = await client.post("/api/users", json={"username": username, "password": PASSWORD})
    assert first.status_code == 201
    again = await client.post("/api/users", json={"username": username, "password": "other-pass"})
    assert again.status_code == 409
    assert isinstance(again.json()["detail"], str)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"username": "ab", "password": PASSWORD}, id="username-too-short"),
        pytest.param({"username": "a" * 65, "password": PASSWORD}, id="username-too-long"),
        pytest.param({"username": "with space", "password": PASSWORD}, id="username-charset"),
        pytest.param({"username": "dave", "password": "short"}, id="password-too-short"),
        pytest.param({"username": "dave", "password": "p" * 257}, id="password-too-long"),
        pytest.param(
            {"username": "dave", "password": PASSWORD, "display_name": ""}, id="empty-display"
        ),
        pytest.param(
            {"username": "dave", "password": PASSWORD, "display_name": "d" * 101},
            id="display-too-long",
        ),
        pytest.param({"password": PASSWORD}, id="no-username"),
    ],
)
async def test_invalid_user_is_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    r = await client.post("/api/users", json=body)
    assert r.status_code == 422


async def test_token_and_me(api: Api) -> None:
    account = await api.signup("erin", display_name="Erin")
    r = await api.client.post(
        "/api/auth/token", data={"username": account.username, "password": PASSWORD}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    me = await api.client.get(
        "/api/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json() == {"id": account.id, "username": account.username, "display_name": "Erin"}


async def test_wrong_password_is_401(api: Api) -> None:
    account = await api.signup("frank")
    r = await api.client.post(
        "/api/auth/token", data={"username": account.username, "password": PASSWORD + "!"}
    )
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


async def test_unknown_user_is_401(client: httpx.AsyncClient, unique: Any) -> None:
    r = await client.post(
        "/api/auth/token", data={"username": unique("nobody"), "password": PASSWORD}
    )
    assert r.status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic dXNlcjpwYXNz"])
async def test_protected_routes_need_a_token(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    authorization: str | None,
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    r = await client.request(method, path, json=body, headers=headers)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert isinstance(r.json()["detail"], str)


def _forged(kind: str, key: str, user_id: int) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": str(user_id), "typ": "access", "iat": now, "exp": now + 600}
    if kind == "alg-none":
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    if kind == "wrong-key":
        return jwt.encode(claims, "a-different-key-that-is-long-enough-for-hs256", "HS256")
    if kind == "expired":
        return jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, key, "HS256")
    if kind == "no-exp":
        del claims["exp"]
        return jwt.encode(claims, key, "HS256")
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["alg-none", "wrong-key", "expired", "no-exp"])
async def test_forged_access_token_is_refused(api: Api, api_server: Any, kind: str) -> None:
    account = await api.signup("mallory")
    token = _forged(kind, api_server.settings.signing_key, account.id)
    r = await api.client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


async def test_participant_token_is_not_an_access_token(api: Api) -> None:
    account = await api.signup("trudy")
    topic = await api.topic(account)
    session = await api.session(account, topic["id"])
    details = await api.client.post(
        "/api/connection-details", json={"session_id": session["id"]}, headers=account.headers
    )
    assert details.status_code == 200
    participant = details.json()["participant_token"]
    r = await api.client.get("/api/users/me", headers={"Authorization": f"Bearer {participant}"})
    assert r.status_code == 401


async def test_concurrent_signups_with_one_name(client: httpx.AsyncClient, unique: Any) -> None:
    username = unique("race")
    body = {"username": username, "password": PASSWORD}
    answers = await asyncio.gather(*(client.post("/api/users", json=body) for _ in range(4)))
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409]
