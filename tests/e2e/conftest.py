"""Whole-system tests use the room kit: real users over REST, real room sockets, real server
processes (tests/support)."""

from tests.support.fixtures import kit, make_kit, spawn

__all__ = ["kit", "make_kit", "spawn"]
