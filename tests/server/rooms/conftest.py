"""The room tests that need a real socket use the room kit (tests/support)."""

from tests.support.fixtures import make_kit

__all__ = ["make_kit"]
