"""Room helpers of the end-to-end tests, for the room tests that need a real socket."""

from __future__ import annotations

from tests.e2e.conftest import make_kit

__all__ = ["make_kit"]
