"""Fixtures for the study-data tests: a real server whose tutor is a scripted model.

One server per module and backend: every test makes its own users, topics and sessions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import pytest

from tests.fakes.scripted_openai import ScriptedOpenAI
from tests.support import RoomKit


@pytest.fixture(scope="module", params=["embedded", "services"])
def study_backend(request: pytest.FixtureRequest) -> Any:
    """The backend matrix, per module (synchronous, like ``api_backend``)."""
    return request.getfixturevalue(f"{request.param}_backend")


@pytest.fixture(scope="module")
async def model() -> AsyncIterator[ScriptedOpenAI]:
    async with ScriptedOpenAI() as scripted:
        yield scripted


@pytest.fixture(scope="module")
async def study_server(study_backend: Any, model: ScriptedOpenAI) -> AsyncIterator[Any]:
    """A real server whose tutor answers from ``model``'s scripts."""
    from server.runner import start_in_process

    settings = study_backend.settings(
        tutor_provider="openai",
        tutor_model="scripted",
        tutor_max_retries=0,
        tutor_first_token_timeout_s=5.0,
        tutor_idle_timeout_s=5.0,
    )
    # The provider reads the SDK's variables once, when the server starts.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPENAI_API_KEY", "test-key")
        env.setenv("OPENAI_BASE_URL", model.base_url)
        port, stop = await start_in_process(settings)
    try:
        yield SimpleNamespace(
            base_url=f"http://127.0.0.1:{port}", settings=settings, backend=study_backend
        )
    finally:
        await stop()


@pytest.fixture
async def study(study_server: Any, unique: Callable[[str], str]) -> AsyncIterator[RoomKit]:
    """The room kit on ``study_server``."""
    room_kit = RoomKit(study_server.base_url, unique)
    yield room_kit
    await room_kit.aclose()
