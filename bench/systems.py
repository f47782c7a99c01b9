"""The systems under test: how each server starts, and the seats (URL + room) of its rooms."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.peers.websockets_redis_server import HELLO
from bench.procs import ServerProcess, free_port, spawn, wait_http, wait_port
from bench.scratch import Scratch
from bench.wire import Dialect, PlainDialect, Seat, SocketIODialect, StudyroomDialect
from tests.support.pool import RoomPool
from tests.support.redis_cluster import redis_cluster

# Far above any load the harness offers, so no chat or ask is refused for going too fast.
UNLIMITED = "1000000"
SECRET_KEY = "benchmark-secret-key-that-is-long-enough-for-hs256"  # noqa: S105 - scratch only
TOKEN_TTL_S = 6 * 3600


@dataclass
class Context:
    root: Path
    log_dir: Path
    scratch: Scratch
    server_core: int | None
    openai_base_url: str


class System:
    key = ""
    label = ""
    uses_redis = True
    dialect: Dialect

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.server: ServerProcess | None = None
        self.port = 0
        self._starts = 0

    @property
    def pid(self) -> int:
        assert self.server is not None, "not started"
        return self.server.pid

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None) -> ServerProcess:
        self._starts += 1
        self.port = free_port()
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.server = spawn(
            f"{self.key}-{self._starts}",
            [sys.executable, *argv],
            core=self.ctx.server_core,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            cwd=self.ctx.root,
            log_dir=self.ctx.log_dir,
        )
        return self.server

    async def start(self) -> None:
        raise NotImplementedError

    async def seats(self, rooms: int, members: int, first_room: int = 0) -> list[Seat]:
        return [
            Seat(self.room_url(f"room-{r}"), f"room-{r}")
            for r in range(first_room, first_room + rooms)
            for _ in range(members)
        ]

    def room_url(self, room: str) -> str:
        raise NotImplementedError

    async def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    async def close(self) -> None:
        """Stop the server and whatever the system started beside it."""
        await self.stop()


class Studyroom(System):
    key = "studyroom"
    label = "studyroom"
    dialect = StudyroomDialect()

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.setup: RoomPool | None = None

    def env(self) -> dict[str, str]:
        scratch = self.ctx.scratch
        return {
            "STUDYROOM_DATABASE_URL": scratch.database_url,
            "STUDYROOM_REDIS_URL": scratch.redis_url,
            "STUDYROOM_REDIS_PREFIX": scratch.prefix,
            "STUDYROOM_SECRET_KEY": SECRET_KEY,
            "STUDYROOM_WORKERS": "1",
            "STUDYROOM_DATA_DIR": str(self.ctx.log_dir / "data"),
            "STUDYROOM_RATE_LIMIT_PER_S": UNLIMITED,
            "STUDYROOM_RATE_LIMIT_BURST": UNLIMITED,
            "STUDYROOM_PARTICIPANT_TOKEN_TTL_S": str(TOKEN_TTL_S),
            "STUDYROOM_TUTOR_PROVIDER": "openai",
            "STUDYROOM_TUTOR_MODEL": "scripted",
            "STUDYROOM_TUTOR_ASKS_PER_MINUTE": UNLIMITED,
            "STUDYROOM_TUTOR_SESSION_ASKS_PER_MINUTE": UNLIMITED,
            "STUDYROOM_TUTOR_SESSION_TOKEN_BUDGET": "1000000000",
            "STUDYROOM_TUTOR_USER_TOKEN_BUDGET": "1000000000",
            "OPENAI_BASE_URL": self.ctx.openai_base_url,
            "OPENAI_API_KEY": "benchmark",
        }

    async def start(self) -> None:
        server = self._spawn(["-m", "server", "serve", "--port", "{port}"], self.env())
        base = f"http://127.0.0.1:{self.port}"
        await wait_http(server, f"{base}/readyz")
        self.setup = RoomPool(base, secret_key=SECRET_KEY, token_ttl_s=TOKEN_TTL_S)

    async def seats(self, rooms: int, members: int, first_room: int = 0) -> list[Seat]:
        assert self.setup is not None, "not started"
        return [Seat(url, room) for url, room in await self.setup.seats(rooms, members, first_room)]

    async def stop(self) -> None:
        if self.setup is not None:
            await self.setup.close()
            self.setup = None
        await super().stop()


class StudyroomCluster(Studyroom):
    """studyroom with its live state on a Redis Cluster (three masters, three replicas) that the
    harness starts on loopback ports for the run. The server's CPU is measured; the cluster's
    six processes are not one Redis to probe."""

    key = "studyroom_cluster"
    label = "studyroom on a Redis Cluster"
    uses_redis = False

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._cluster = contextlib.ExitStack()
        self._url = ""

    def env(self) -> dict[str, str]:
        return {**super().env(), "STUDYROOM_REDIS_URL": self._url}

    async def start(self) -> None:
        if not self._url:
            cluster = self._cluster.enter_context(redis_cluster())
            self._url = cluster.url
        await super().start()

    async def stop(self) -> None:
        await super().stop()

    async def close(self) -> None:
        await self.stop()
        self._url = ""
        self._cluster.close()


class SocketIO(System):
    key = "socketio"
    label = "python-socketio + Redis"
    dialect = SocketIODialect()

    async def start(self) -> None:
        scratch = self.ctx.scratch
        server = self._spawn(
            [
                *("-m", "bench.peers.socketio_server", "--port", "{port}"),
                *("--redis", scratch.redis_url, "--channel", f"{scratch.prefix}-socketio"),
            ]
        )
        await wait_port(server, self.port)

    def room_url(self, room: str) -> str:
        return f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket"


class WebsocketsRedis(System):
    key = "websockets_redis"
    label = "websockets + Redis pub/sub (floor)"
    dialect = PlainDialect(hello=HELLO)

    async def start(self) -> None:
        scratch = self.ctx.scratch
        server = self._spawn(
            [
                *("-m", "bench.peers.websockets_redis_server", "--port", "{port}"),
                *("--redis", scratch.redis_url, "--prefix", f"{scratch.prefix}-ws"),
            ]
        )
        await wait_port(server, self.port)

    def room_url(self, room: str) -> str:
        return f"ws://127.0.0.1:{self.port}/{room}"


class FastAPILoop(System):
    key = "fastapi"
    label = "FastAPI send loop (in-process)"
    uses_redis = False
    dialect = PlainDialect()

    async def start(self) -> None:
        server = self._spawn(["-m", "bench.peers.fastapi_server", "--port", "{port}"])
        await wait_http(server, f"http://127.0.0.1:{self.port}/healthz")

    def room_url(self, room: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/{room}"


ALL: dict[str, type[System]] = {
    s.key: s for s in (Studyroom, StudyroomCluster, SocketIO, WebsocketsRedis, FastAPILoop)
}
