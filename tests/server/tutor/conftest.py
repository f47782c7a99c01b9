"""Fixtures for the tutor tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.scripted_openai import ScriptedOpenAI

# --- the scripted OpenAI-compatible server ---------------------------------------------------
# A fresh server per test, so queued scripts, received requests and disconnect counts never
# leak between tests; starting one on loopback costs a few milliseconds.


@pytest.fixture
async def scripted_openai() -> AsyncIterator[ScriptedOpenAI]:
    async with ScriptedOpenAI() as server:
        yield server


# --- end of the scripted server fixtures -----------------------------------------------------
