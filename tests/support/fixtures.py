"""The kit's pytest fixtures; a conftest imports the ones its tests use.

``kit`` needs the ``server`` fixture (tests/conftest.py), ``make_kit`` a base URL per call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.kit import RoomKit
from tests.support.processes import Spawner


@pytest.fixture
async def kit(server: Any, unique: Callable[[str], str]) -> AsyncIterator[RoomKit]:
    """A kit on the test's ``server``."""
    room_kit = RoomKit(server.base_url, unique)
    yield room_kit
    await room_kit.aclose()


@pytest.fixture
async def make_kit(unique: Callable[[str], str]) -> AsyncIterator[Callable[[str], RoomKit]]:
    """``make_kit(base_url)``: a kit on any server; all are closed after the test."""
    made: list[RoomKit] = []

    def make(base_url: str) -> RoomKit:
        room_kit = RoomKit(base_url, unique)
        made.append(room_kit)
        return room_kit

    yield make
    for room_kit in made:
        await room_kit.aclose()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawner]:
    """``spawn(env)``: start server processes; all are stopped after the test."""
    spawner = Spawner(tmp_path)
    yield spawner
    spawner.stop_all()
