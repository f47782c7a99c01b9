"""Client-side helpers of the study-data tests: REST set-up and room sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

PASSWORD = "correct horse battery staple"


@dataclass
class Learner:
    id: int
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Room:
    """A member's room socket; ``events`` keeps the room events received, in order."""

    ws: ClientConnection
    events: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                frame: dict[str, Any] = json.loads(await self.ws.recv())
                if "seq" in frame:
                    self.events.append(frame)
                if predicate(frame):
                    return frame

    async def ask(self, text: str) -> dict[str, Any]:
        await self.send({"type": "ask", "text": text})
        return await self.until(lambda f: f.get("type") == "ask" and f["text"] == text)


class Study:
    """Set-up steps the tests share; each asserts it succeeded."""

    def __init__(self, client: httpx.AsyncClient, unique: Callable[[str], str]) -> None:
        self.http = client
        self._unique = unique
        self._sockets: list[ClientConnection] = []

    async def learner(self, stem: str = "learner") -> Learner:
        username = self._unique(stem)
        created = await self.http.post(
            "/api/users", json={"username": username, "password": PASSWORD}
        )
        assert created.status_code == 201, created.text
        token = await self.http.post(
            "/api/auth/token", data={"username": username, "password": PASSWORD}
        )
        assert token.status_code == 200, token.text
        return Learner(created.json()["id"], username, token.json()["access_token"])

    async def topic(self, who: Learner, title: str = "Photosynthesis") -> int:
        r = await self.http.post("/api/topics", json={"title": title}, headers=who.headers)
        assert r.status_code == 201, r.text
        topic_id: int = r.json()["id"]
        return topic_id

    async def session(self, owner: Learner, topic_id: int, *members: Learner) -> dict[str, Any]:
        r = await self.http.post(
            "/api/sessions", json={"topic_id": topic_id}, headers=owner.headers
        )
        assert r.status_code == 201, r.text
        session: dict[str, Any] = r.json()
        for member in members:
            joined = await self.http.post(
                "/api/sessions/join",
                json={"join_code": session["join_code"]},
                headers=member.headers,
            )
            assert joined.status_code == 200, joined.text
        return session

    async def enter(self, who: Learner, session: dict[str, Any]) -> Room:
        details = await self.http.post(
            "/api/connection-details", json={"session_id": session["id"]}, headers=who.headers
        )
        assert details.status_code == 200, details.text
        body = details.json()
        ws = await connect(
            f"{body['server_url']}?token={body['participant_token']}", close_timeout=2
        )
        self._sockets.append(ws)
        room = Room(ws)
        welcome = await room.until(lambda f: f.get("type") == "welcome")
        assert welcome["user"]["id"] == who.id
        return room

    async def goal(self, who: Learner, topic_id: int, metric: str, target: float) -> Any:
        r = await self.http.post(
            "/api/goals",
            json={
                "topic_id": topic_id,
                "title": f"{metric} goal",
                "metric": metric,
                "target": target,
            },
            headers=who.headers,
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def read_goal(self, who: Learner, goal_id: int) -> Any:
        r = await self.http.get("/api/goals", headers=who.headers)
        assert r.status_code == 200, r.text
        (goal,) = [g for g in r.json() if g["id"] == goal_id]
        return goal

    async def concepts(self, who: Learner, topic_id: int | None = None) -> list[Any]:
        params = {} if topic_id is None else {"topic_id": topic_id}
        r = await self.http.get("/api/progress", params=params, headers=who.headers)
        assert r.status_code == 200, r.text
        concepts: list[Any] = r.json()
        return concepts

    async def aclose(self) -> None:
        for ws in self._sockets:
            await ws.close()


async def eventually(
    probe: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], timeout: float = 10.0
) -> Any:
    """Poll ``probe`` until ``check`` accepts its answer: the transcript and the projection
    follow the room shortly after, not at once. Returns that answer."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        answer = await probe()
        if check(answer):
            return answer
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still not as expected: {answer!r}")
        await asyncio.sleep(0.05)
