"""Undeclared methods get 405 with an ``Allow`` naming every method the path has.

The router alone would name only the methods of the first route it matched; the application
installs ``server.api.middleware.AllowedMethods`` to name them all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest


@pytest.fixture
async def client(server: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        yield http


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/topics", "GET, POST"),
        ("OPTIONS", "/api/topics", "GET, POST"),
        ("PUT", "/api/goals/7", "DELETE, GET, PATCH"),
        ("DELETE", "/api/sessions/join", "POST"),
        ("PATCH", "/api/topics/7/materials", "GET, POST"),
        ("POST", "/healthz", "GET"),
    ],
)
async def test_405_names_every_method_of_the_path(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    answer = await client.request(method, path)
    assert answer.status_code == 405
    assert answer.headers["allow"] == allowed


async def test_other_answers_are_left_alone(client: httpx.AsyncClient) -> None:
    listed = await client.get("/api/topics")
    assert listed.status_code == 401 and "allow" not in listed.headers
    assert (await client.get("/healthz")).status_code == 200
