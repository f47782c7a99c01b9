"""Waiting for state that follows the room: the transcript, the projection, reports."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    probe: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], timeout: float = 10.0
) -> Any:
    """Poll ``probe`` until ``check`` accepts its answer, and return that answer.

    Raises AssertionError with the last answer when ``timeout`` seconds pass first.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        answer = await probe()
        if check(answer):
            return answer
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still not as expected: {answer!r}")
        await asyncio.sleep(0.05)
