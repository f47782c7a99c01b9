"""RoomKit: drives a server like its clients do, the SDK for REST and raw sockets for rooms."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from clients.sdk import StudyroomClient
from clients.sdk.models import Metric
from tests.support.conn import Conn
from tests.support.people import PASSWORD, Person

Row = dict[str, Any]


class RoomKit:
    """People, sessions and room sockets on the server at ``base_url``.

    Every set-up step goes through the SDK and raises :class:`clients.sdk.ApiError` when the
    server refuses it. Answers are plain JSON-shaped dicts (the SDK's models dumped), as the
    tests read them. ``http`` is a raw, unauthenticated httpx client for requests a test must
    send exactly as written (add ``person.auth`` for its headers). Everything the kit opened is
    closed by :meth:`aclose`.
    """

    def __init__(
        self, base_url: str, unique: Callable[[str], str], *, timeout: float = 20.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.ws_base = self.base_url.replace("http://", "ws://", 1)
        self._unique = unique
        self._timeout = timeout
        self._anonymous = StudyroomClient(self.base_url, timeout=timeout)
        self.http: httpx.AsyncClient = self._anonymous.http
        self._clients: dict[str, StudyroomClient] = {}
        self._sockets: list[ClientConnection] = []

    def client(self, person: Person) -> StudyroomClient:
        """The SDK client acting as ``person`` (one per access token, kept until aclose)."""
        client = self._clients.get(person.token)
        if client is None:
            client = StudyroomClient(self.base_url, token=person.token, timeout=self._timeout)
            self._clients[person.token] = client
        return client

    # people, topics, sessions

    async def person(self, stem: str = "user", *, display_name: str | None = None) -> Person:
        """A new user named ``unique(stem)``, shown as ``display_name`` (default: ``stem``),
        logged in."""
        username = self._unique(stem)
        client = StudyroomClient(self.base_url, timeout=self._timeout)
        user = await client.register(username, PASSWORD, display_name=display_name or stem)
        token = await client.login(username, PASSWORD)
        self._clients[token] = client
        return Person(user.id, username, user.display_name, token)

    async def topic(self, owner: Person, title: str = "Photosynthesis") -> int:
        """A new topic of ``owner``; its id."""
        return (await self.client(owner).create_topic(title)).id

    async def session(self, owner: Person, *members: Person, topic: int | None = None) -> Row:
        """A session of ``owner`` on ``topic`` (default: a new "Photosynthesis" topic), joined
        by ``members`` in order."""
        topic_id = await self.topic(owner) if topic is None else topic
        made = await self.client(owner).create_session(topic_id)
        for member in members:
            await self.client(member).join(made.join_code)
        return made.model_dump(mode="json")

    async def details(self, person: Person, session: Row) -> Row:
        """``person``'s connection details for ``session``: server URL, participant token."""
        details = await self.client(person).connection_details(session["id"])
        return details.model_dump(mode="json")

    # room sockets

    def url(self, session_id: int, token: str, **params: Any) -> str:
        """The room URL with ``token`` and every parameter that is not None, as given (so a
        test can send values no client would)."""
        query = "&".join(f"{k}={v}" for k, v in {"token": token, **params}.items() if v is not None)
        return f"{self.ws_base}/ws/sessions/{session_id}?{query}"

    async def raw(self, url: str, **kwargs: Any) -> ClientConnection:
        """A raw socket to ``url`` (``websockets`` connect options in ``kwargs``), nothing read."""
        kwargs.setdefault("close_timeout", 2)
        ws = await connect(url, open_timeout=10, max_size=None, **kwargs)
        self._sockets.append(ws)
        return ws

    async def connect(
        self,
        person: Person,
        session: Row,
        *,
        last_seq: int | None = None,
        epoch: str | None = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> Conn:
        """``person`` in ``session``'s room, welcomed; resuming when ``last_seq`` is given.

        ``token`` replaces the participant token the kit would fetch; ``kwargs`` go to
        :meth:`raw`.
        """
        if token is None:
            token = (await self.details(person, session))["participant_token"]
        ws = await self.raw(
            self.url(session["id"], token, last_seq=last_seq, epoch=epoch), **kwargs
        )
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert welcome["type"] == "welcome", welcome
        return Conn(ws, welcome)

    async def refusal(self, session_id: int, token: str) -> int:
        """Open the room with ``token`` expecting a refusal: 403 if the handshake was refused,
        else the close code, after asserting that no frame came first."""
        try:
            ws = await self.raw(self.url(session_id, token))
        except InvalidStatus as refused:
            assert refused.response.status_code == 403, refused
            return 403
        frames = []
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                frames.append(await asyncio.wait_for(ws.recv(), 5))
        assert frames == [], frames
        assert ws.protocol.close_rcvd is not None, "closed without a close frame"
        return ws.protocol.close_rcvd.code

    # what the room leaves behind

    async def messages(self, person: Person, session_id: int, after: int = 0) -> list[Row]:
        """The persisted transcript after seq ``after``, every page, in seq order."""
        return await self.client(person).messages(session_id, after)

    async def goal(self, owner: Person, topic_id: int, metric: Metric, target: float) -> Row:
        """A new goal of ``owner`` titled "<metric> goal"."""
        goal = await self.client(owner).create_goal(topic_id, f"{metric} goal", metric, target)
        return goal.model_dump(mode="json")

    async def read_goal(self, owner: Person, goal_id: int) -> Row:
        """``owner``'s goal ``goal_id`` as listed now, with its progress."""
        (goal,) = [g for g in await self.client(owner).goals() if g.id == goal_id]
        return goal.model_dump(mode="json")

    async def concepts(self, person: Person, topic_id: int | None = None) -> list[Row]:
        """``person``'s concept progress, on ``topic_id`` or on every topic."""
        rows = await self.client(person).progress(topic_id)
        return [row.model_dump(mode="json") for row in rows]

    async def aclose(self) -> None:
        for ws in self._sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        for client in (self._anonymous, *self._clients.values()):
            await client.aclose()
