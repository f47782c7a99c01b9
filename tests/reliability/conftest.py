"""Fault tests reuse the whole-system helpers: server processes and room kits."""

from tests.e2e.conftest import make_kit, spawn

__all__ = ["make_kit", "spawn"]
