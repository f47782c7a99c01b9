"""Many rooms over a small pool of users, made once and reused: what the benchmarks need.

Signing up hashes a password with Argon2 (deliberately slow), so a small pool of users does
everything: a room of ``m`` members has the first ``min(m, pool)`` users as session members,
and when ``m`` is larger the users hold several connections each (the server treats each
connection as a member: its own queue, its own writer; presence counts users). Sessions, their
members and tokens are made once and reused by every phase that needs that many rooms.
Participant tokens are signed here with the server's secret, so thousands of seats cost no
request each.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from server.auth.tokens import issue_participant_token
from server.config import Settings
from tests.support.kit import RoomKit
from tests.support.people import Person

_CONCURRENCY = 16

T = TypeVar("T")


@dataclass
class _Session:
    id: int
    join_code: str
    members: set[int] = field(default_factory=set)  # indexes into the user pool


class RoomPool:
    """Rooms on the server at ``base_url``, which must run with ``secret_key``."""

    def __init__(self, base_url: str, *, secret_key: str, token_ttl_s: int, pool: int = 10) -> None:
        self._tag = uuid.uuid4().hex[:6]
        # Pool users are named here, one name per index: the kit adds nothing to them.
        self.kit = RoomKit(base_url, lambda name: name, timeout=60)
        self.base_url = self.kit.base_url
        self.pool = pool
        self.users: list[Person] = []
        self._sessions: list[_Session] = []
        self._topic: int | None = None
        self._signer = Settings(secret_key=secret_key, participant_token_ttl_s=token_ttl_s)
        self._tokens: dict[tuple[int, int], str] = {}

    async def close(self) -> None:
        await self.kit.aclose()

    async def ensure_users(self, count: int) -> list[Person]:
        """The first ``count`` pool users, signed up when missing."""
        while len(self.users) < count:
            name = f"bench_{self._tag}_{len(self.users)}"
            self.users.append(await self.kit.person(name, display_name=name))
        return self.users[:count]

    async def _ensure_sessions(self, count: int) -> None:
        owner = (await self.ensure_users(1))[0]
        if self._topic is None:
            self._topic = await self.kit.topic(owner)
        topic = self._topic
        missing = range(len(self._sessions), count)

        async def make(_: int) -> _Session:
            made = await self.kit.client(owner).create_session(topic)
            return _Session(made.id, made.join_code, {0})

        self._sessions += await _bounded(make, missing)

    async def session_ids(self, count: int, members: int) -> list[int]:
        """``count`` sessions whose members are the first ``min(members, pool)`` users."""
        users = await self.ensure_users(min(members, self.pool))
        await self._ensure_sessions(count)
        joins = [
            (s, i) for s in self._sessions[:count] for i in range(len(users)) if i not in s.members
        ]

        async def join(pair: tuple[_Session, int]) -> None:
            session, index = pair
            await self.kit.client(users[index]).join(session.join_code)
            session.members.add(index)

        await _bounded(join, joins)
        return [s.id for s in self._sessions[:count]]

    async def new_session(self, members: int) -> tuple[int, list[str]]:
        """A session of its own with the first ``members`` users; their room URLs."""
        users = await self.ensure_users(members)
        if self._topic is None:
            await self._ensure_sessions(0)
        session = await self.kit.session(users[0], *users[1:], topic=self._topic)
        session_id = int(session["id"])
        return session_id, [self.url(session_id, self.token(session_id, i)) for i in range(members)]

    def token(self, session_id: int, user_index: int) -> str:
        """A participant token of pool user ``user_index`` for ``session_id``."""
        token = self._tokens.get((session_id, user_index))
        if token is None:
            user = self.users[user_index]
            token, _ = issue_participant_token(
                self._signer, user_id=user.id, session_id=session_id, name=user.name
            )
            self._tokens[session_id, user_index] = token
        return token

    async def seats(self, rooms: int, members: int, first_room: int = 0) -> list[tuple[str, str]]:
        """``(room URL, room)`` per member of rooms ``first_room … first_room + rooms - 1``."""
        ids = await self.session_ids(first_room + rooms, members)
        distinct = min(members, self.pool)
        return [
            (self.url(ids[r], self.token(ids[r], k % distinct)), str(ids[r]))
            for r in range(first_room, first_room + rooms)
            for k in range(members)
        ]

    def url(self, session_id: int, token: str) -> str:
        return self.kit.url(session_id, token)


async def _bounded(work: Callable[[T], Awaitable[Any]], items: Iterable[T]) -> list[Any]:
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(item: T) -> Any:
        async with gate:
            return await work(item)

    return list(await asyncio.gather(*(one(i) for i in items)))
