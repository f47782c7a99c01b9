"""The people of a test: registered users and their access tokens."""

from __future__ import annotations

from dataclasses import dataclass

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Person:
    """A registered user; ``token`` is its REST access token, ``name`` its display name."""

    id: int
    username: str
    name: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        """Headers that authenticate a raw REST request as this person."""
        return {"Authorization": f"Bearer {self.token}"}
