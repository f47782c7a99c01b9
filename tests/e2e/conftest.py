"""Whole-system helpers: real users over REST, real room sockets, real server processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect


@dataclass
class Person:
    id: int
    username: str
    name: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Conn:
    """A member's socket; ``events`` keeps every room event received, in arrival order."""

    ws: ClientConnection
    welcome: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    others: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        frame: dict[str, Any] = json.loads(raw)
        (self.events if "seq" in frame else self.others).append(frame)
        return frame

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("expected frame did not arrive")
            frame = await self.recv(left)
            if predicate(frame):
                return frame

    async def seen(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Like :meth:`until`, but an event received earlier also counts."""
        for event in self.events:
            if predicate(event):
                return event
        return await self.until(predicate, timeout)

    async def until_seq(self, seq: int, timeout: float = 10.0) -> None:
        if self.events and self.events[-1]["seq"] >= seq:
            return
        await self.until(lambda f: f.get("seq", -1) >= seq, timeout)

    async def closed_with(self, timeout: float = 10.0) -> int | None:
        """Read until the server closes; the close code it sent."""
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await self.recv(timeout)
        return self.ws.protocol.close_rcvd.code if self.ws.protocol.close_rcvd else None

    @property
    def last_seq(self) -> int:
        return self.events[-1]["seq"] if self.events else self.welcome["seq"]


class RoomKit:
    """Drives a server like its clients do: REST for set-up, sockets for rooms."""

    def __init__(self, base_url: str, unique: Callable[[str], str]) -> None:
        self.base_url = base_url
        self.ws_base = base_url.replace("http://", "ws://")
        self.http = httpx.AsyncClient(base_url=base_url, timeout=20)
        self._unique = unique
        self._sockets: list[ClientConnection] = []

    async def person(self, stem: str = "user") -> Person:
        username = self._unique(stem)
        password = "correct horse battery"
        created = await self.http.post(
            "/api/users", json={"username": username, "password": password, "display_name": stem}
        )
        assert created.status_code == 201, created.text
        token = await self.http.post(
            "/api/auth/token", data={"username": username, "password": password}
        )
        assert token.status_code == 200, token.text
        return Person(created.json()["id"], username, stem, token.json()["access_token"])

    async def session(self, owner: Person, *members: Person) -> dict[str, Any]:
        topic = await self.http.post(
            "/api/topics", json={"title": "Photosynthesis"}, headers=owner.auth
        )
        assert topic.status_code == 201, topic.text
        made = await self.http.post(
            "/api/sessions", json={"topic_id": topic.json()["id"]}, headers=owner.auth
        )
        assert made.status_code == 201, made.text
        session: dict[str, Any] = made.json()
        for member in members:
            joined = await self.http.post(
                "/api/sessions/join", json={"join_code": session["join_code"]}, headers=member.auth
            )
            assert joined.status_code == 200, joined.text
        return session

    async def details(self, person: Person, session: dict[str, Any]) -> dict[str, Any]:
        answer = await self.http.post(
            "/api/connection-details", json={"session_id": session["id"]}, headers=person.auth
        )
        assert answer.status_code == 200, answer.text
        details: dict[str, Any] = answer.json()
        return details

    def url(self, session_id: int, token: str, **params: Any) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"token": token, **params}.items() if v is not None)
        return f"{self.ws_base}/ws/sessions/{session_id}?{query}"

    async def raw(self, url: str, **kwargs: Any) -> ClientConnection:
        kwargs.setdefault("close_timeout", 2)
        ws = await connect(url, open_timeout=10, max_size=None, **kwargs)
        self._sockets.append(ws)
        return ws

    async def connect(
        self,
        person: Person,
        session: dict[str, Any],
        *,
        last_seq: int | None = None,
        epoch: str | None = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> Conn:
        if token is None:
            token = (await self.details(person, session))["participant_token"]
        ws = await self.raw(
            self.url(session["id"], token, last_seq=last_seq, epoch=epoch), **kwargs
        )
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert welcome["type"] == "welcome", welcome
        return Conn(ws, welcome)

    async def messages(
        self, person: Person, session_id: int, after: int = 0
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            page = await self.http.get(
                f"/api/sessions/{session_id}/messages",
                params={"after_seq": after, "limit": 500},
                headers=person.auth,
            )
            assert page.status_code == 200, page.text
            rows = page.json()
            out.extend(rows)
            if len(rows) < 500:
                return out
            after = rows[-1]["seq"]

    async def aclose(self) -> None:
        for ws in self._sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        await self.http.aclose()


@pytest.fixture
async def kit(server: Any, unique: Callable[[str], str]) -> AsyncIterator[RoomKit]:
    room_kit = RoomKit(server.base_url, unique)
    yield room_kit
    await room_kit.aclose()


@pytest.fixture
async def make_kit(unique: Callable[[str], str]) -> AsyncIterator[Callable[[str], RoomKit]]:
    made: list[RoomKit] = []

    def make(base_url: str) -> RoomKit:
        room_kit = RoomKit(base_url, unique)
        made.append(room_kit)
        return room_kit

    yield make
    for room_kit in made:
        await room_kit.aclose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """``studyroom serve`` in a child process, as operators run it."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(20)


def _tail(path: str) -> str:
    with open(path, errors="replace") as log_file:
        return log_file.read()[-2000:]


@pytest.fixture
def spawn(tmp_path: Any) -> Any:
    """Start server processes with the given environment; all are stopped after the test."""
    started: list[ServerProcess] = []

    def start(env: dict[str, str]) -> ServerProcess:
        port = free_port()
        log_path = str(tmp_path / f"server-{port}.log")
        full_env = {**os.environ, **env}
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--port", str(port)],
                env=full_env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        proc = ServerProcess(process, port, log_path)
        started.append(proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {_tail(log_path)}")
            try:
                if httpx.get(f"{proc.base_url}/healthz", timeout=0.5).status_code == 200:
                    return proc
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start: {_tail(log_path)}")

    yield start
    for proc in started:
        if proc.process.poll() is None:
            proc.process.kill()
            proc.process.wait(10)
