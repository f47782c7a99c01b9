"""Fixtures for the REST API tests: an HTTP client on a real server, and signed-up users.

The API tests share one server per module and backend (``api_server``): every test makes its
own users with unique names, so they stay independent, and the suite does not pay a server
start and stop per test. Tests that need a differently configured server use ``make_server``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

PASSWORD = "correct horse battery staple"


@dataclass
class Account:
    id: int
    username: str
    display_name: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """Thin helpers over the client for the set-up steps tests share; each asserts success."""

    def __init__(self, client: httpx.AsyncClient, unique: Callable[[str], str]) -> None:
        self.client = client
        self._unique = unique

    async def signup(self, stem: str = "user", display_name: str | None = None) -> Account:
        username = self._unique(stem)
        body: dict[str, Any] = {"username": username, "password": PASSWORD}
        if display_name is not None:
            body["display_name"] = display_name
        created = await self.client.post("/api/users", json=body)
        assert created.status_code == 201, created.text
        token = await self.client.post(
            "/api/auth/token", data={"username": username, "password": PASSWORD}
        )
        assert token.status_code == 200, token.text
        user = created.json()
        return Account(
            user["id"], username, user["display_name"], PASSWORD, token.json()["access_token"]
        )

    async def topic(self, who: Account, title: str = "Linear algebra", **extra: Any) -> Any:
        r = await self.client.post(
            "/api/topics", json={"title": title, **extra}, headers=who.headers
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def session(self, who: Account, topic_id: int, **extra: Any) -> Any:
        r = await self.client.post(
            "/api/sessions", json={"topic_id": topic_id, **extra}, headers=who.headers
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def join(self, who: Account, join_code: str) -> Any:
        r = await self.client.post(
            "/api/sessions/join", json={"join_code": join_code}, headers=who.headers
        )
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module", params=["embedded", "services"])
def api_backend(request: pytest.FixtureRequest) -> Any:
    """The backend matrix of ``backend``, per module. Synchronous: it may start an async
    session fixture, which cannot happen from inside a running loop."""
    return request.getfixturevalue(f"{request.param}_backend")


@pytest.fixture(scope="module")
async def api_server(api_backend: Any) -> AsyncIterator[Any]:
    """A real server on the embedded or the services backend, like ``server``, per module."""
    from server.runner import start_in_process

    settings = api_backend.settings()
    port, stop = await start_in_process(settings)
    try:
        yield SimpleNamespace(
            base_url=f"http://127.0.0.1:{port}", ws_base=f"ws://127.0.0.1:{port}", settings=settings
        )
    finally:
        await stop()


@pytest.fixture
async def client(api_server: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_server.base_url, timeout=10.0) as c:
        yield c


@pytest.fixture
def api(client: httpx.AsyncClient, unique: Callable[[str], str]) -> Api:
    return Api(client, unique)


@pytest.fixture
def api_on(unique: Callable[[str], str]) -> Callable[[httpx.AsyncClient], Api]:
    """The same helpers over a client of another server (one from ``make_server``)."""
    return lambda client: Api(client, unique)
