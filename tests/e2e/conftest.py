"""Whole-system tests use the room kit: real users over REST, real room sockets, real server
processes (tests/support); the tutor's tests talk to a scripted OpenAI-compatible server."""

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.fakes.scripted_openai import ScriptedOpenAI
from tests.support.fixtures import kit, make_kit, spawn

__all__ = ["kit", "make_kit", "spawn"]


@pytest.fixture
async def model() -> AsyncIterator[ScriptedOpenAI]:
    async with ScriptedOpenAI() as scripted:
        yield scripted


@pytest.fixture
async def tutor_room(
    model: ScriptedOpenAI, make_server: Any, make_kit: Any, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """A server whose tutor talks to the scripted model; returns a factory of rooms."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", model.base_url)

    async def open_room(members: int = 2, **overrides: Any) -> Any:
        settings: dict[str, Any] = {
            "tutor_provider": "openai",
            "tutor_model": "scripted",
            "tutor_max_retries": 1,
            "tutor_first_token_timeout_s": 2.0,
            "tutor_idle_timeout_s": 2.0,
            **overrides,
        }
        server = await make_server(**settings)
        kit = make_kit(server.base_url)
        people = [await kit.person(f"learner{i}") for i in range(members)]
        session = await kit.session(people[0], *people[1:])
        conns = [await kit.connect(p, session) for p in people]
        return SimpleNamespace(kit=kit, session=session, people=people, conns=conns)

    return open_room
