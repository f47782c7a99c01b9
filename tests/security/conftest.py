"""Fixtures for the hostile-input tests: the room kit (tests/support), and the backend matrix
per module for tests that share one server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.fixtures import kit, make_kit, spawn

__all__ = ["kit", "make_kit", "security_backend", "spawn"]


@pytest.fixture(scope="module", params=["embedded", "services"])
def security_backend(request: pytest.FixtureRequest) -> Any:
    """The backend matrix of ``backend``, per module (see ``api_backend`` in the API tests)."""
    return request.getfixturevalue(f"{request.param}_backend")
