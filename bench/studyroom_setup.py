"""Users, sessions and participant tokens for studyroom rooms, made over its REST API.

Signing up hashes a password with Argon2 (deliberately slow), so a small pool of users does
everything: a room of ``m`` members has the first ``min(m, pool)`` users as session members,
and when ``m`` is larger the users hold several connections each (the server treats each
connection as a member: its own queue, its own writer; presence counts users). Sessions, their
members and tokens are made once and reused by every phase that needs that many rooms.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from bench.wire import Seat
from server.auth.tokens import issue_participant_token
from server.config import Settings

PASSWORD = "benchmark password"  # noqa: S105 - throwaway users in a scratch database
SECRET_KEY = "benchmark-secret-key-that-is-long-enough-for-hs256"  # noqa: S105 - scratch only
TOKEN_TTL_S = 6 * 3600
_CONCURRENCY = 16

T = TypeVar("T")


@dataclass(frozen=True)
class User:
    id: int
    name: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class _Session:
    id: int
    join_code: str
    members: set[int] = field(default_factory=set)  # indexes into the user pool


class StudyroomSetup:
    def __init__(self, base_url: str, pool: int = 10) -> None:
        self.base_url = base_url
        self.ws_base = base_url.replace("http://", "ws://", 1)
        self.http = httpx.AsyncClient(
            base_url=base_url,
            timeout=60,
            limits=httpx.Limits(max_connections=_CONCURRENCY * 2),
        )
        self.pool = pool
        self.users: list[User] = []
        self._sessions: list[_Session] = []
        self._topic: int | None = None
        self._tag = uuid.uuid4().hex[:6]
        self._signer = Settings(secret_key=SECRET_KEY, participant_token_ttl_s=TOKEN_TTL_S)
        self._tokens: dict[tuple[int, int], str] = {}

    async def close(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, user: User | None = None, **kw: Any) -> Any:
        headers = user.auth if user is not None else {}
        answer = await self.http.request(method, path, headers=headers, **kw)
        if answer.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:200]}")
        return answer.json()

    async def ensure_users(self, count: int) -> list[User]:
        while len(self.users) < count:
            name = f"bench_{self._tag}_{len(self.users)}"
            credentials = {"username": name, "password": PASSWORD}
            made = await self._call("POST", "/api/users", json=credentials)
            token = await self._call("POST", "/api/auth/token", data=credentials)
            self.users.append(User(made["id"], made["display_name"], token["access_token"]))
        return self.users[:count]

    async def _ensure_sessions(self, count: int) -> None:
        owner = (await self.ensure_users(1))[0]
        if self._topic is None:
            topic = await self._call("POST", "/api/topics", owner, json={"title": "Photosynthesis"})
            self._topic = int(topic["id"])
        missing = range(len(self._sessions), count)

        async def make(_: int) -> _Session:
            made = await self._call("POST", "/api/sessions", owner, json={"topic_id": self._topic})
            return _Session(int(made["id"]), made["join_code"], {0})

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
            await self._call(
                "POST", "/api/sessions/join", users[index], json={"join_code": session.join_code}
            )
            session.members.add(index)

        await _bounded(join, joins)
        return [s.id for s in self._sessions[:count]]

    async def new_session(self, members: int) -> tuple[int, list[str]]:
        """A session of its own with the first ``members`` users; their room URLs."""
        users = await self.ensure_users(members)
        owner = users[0]
        if self._topic is None:
            await self._ensure_sessions(0)
        made = await self._call("POST", "/api/sessions", owner, json={"topic_id": self._topic})
        for user in users[1:]:
            await self._call(
                "POST", "/api/sessions/join", user, json={"join_code": made["join_code"]}
            )
        session_id = int(made["id"])
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

    async def seats(self, rooms: int, members: int, first_room: int = 0) -> list[Seat]:
        """A seat per member of rooms ``first_room … first_room + rooms - 1``."""
        ids = await self.session_ids(first_room + rooms, members)
        distinct = min(members, self.pool)
        return [
            Seat(self.url(ids[r], self.token(ids[r], k % distinct)), str(ids[r]))
            for r in range(first_room, first_room + rooms)
            for k in range(members)
        ]

    def url(self, session_id: int, token: str, **params: Any) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"token": token, **params}.items())
        return f"{self.ws_base}/ws/sessions/{session_id}?{query}"


async def _bounded(work: Callable[[T], Awaitable[Any]], items: Iterable[T]) -> list[Any]:
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(item: T) -> Any:
        async with gate:
            return await work(item)

    return list(await asyncio.gather(*(one(i) for i in items)))
