"""Fault tests use the room kit: server processes and room kits (tests/support)."""

from tests.support.fixtures import make_kit, spawn

__all__ = ["make_kit", "spawn"]
