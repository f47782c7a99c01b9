"""Fixtures for the materials tests: a real server per module and backend with its own data
directory and a small upload limit, helpers to upload, and a look into what it stored."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

PASSWORD = "correct horse battery staple"
UPLOAD_LIMIT = 256 * 1024


@dataclass
class Account:
    id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def multipart(
    data: bytes,
    filename: bytes | None = b"notes.txt",
    field: bytes = b"file",
    content_type: bytes = b"application/octet-stream",
) -> tuple[bytes, dict[str, str]]:
    """A multipart body written byte by byte, so tests control exactly what the server gets
    (clients escape or refuse some file names)."""
    boundary = f"studyroom-test-{uuid.uuid4().hex}".encode()
    disposition = b'form-data; name="' + field + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    body = (
        b"--" + boundary + b"\r\n"
        b"Content-Disposition: " + disposition + b"\r\n"
        b"Content-Type: " + content_type + b"\r\n\r\n" + data + b"\r\n"
        b"--" + boundary + b"--\r\n"
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"}


class Api:
    def __init__(self, client: httpx.AsyncClient, unique: Callable[[str], str]) -> None:
        self.client = client
        self._unique = unique

    async def signup(self, stem: str = "user") -> Account:
        username = self._unique(stem)
        r = await self.client.post("/api/users", json={"username": username, "password": PASSWORD})
        assert r.status_code == 201, r.text
        token = await self.client.post(
            "/api/auth/token", data={"username": username, "password": PASSWORD}
        )
        assert token.status_code == 200, token.text
        return Account(r.json()["id"], token.json()["access_token"])

    async def topic(self, who: Account, title: str = "Cell biology") -> int:
        r = await self.client.post("/api/topics", json={"title": title}, headers=who.headers)
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    async def member_of(self, owner: Account, topic_id: int) -> Account:
        """A new user who joined a session on ``topic_id``."""
        member = await self.signup("member")
        r = await self.client.post(
            "/api/sessions", json={"topic_id": topic_id}, headers=owner.headers
        )
        assert r.status_code == 201, r.text
        joined = await self.client.post(
            "/api/sessions/join", json={"join_code": r.json()["join_code"]}, headers=member.headers
        )
        assert joined.status_code == 200, joined.text
        return member

    async def upload(
        self, who: Account, topic_id: int, data: bytes, filename: str = "notes.txt"
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/topics/{topic_id}/materials",
            files={"file": (filename, data, "application/octet-stream")},
            headers=who.headers,
        )

    async def upload_raw(
        self, who: Account, topic_id: int, body: bytes, headers: dict[str, str]
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/topics/{topic_id}/materials", content=body, headers={**headers, **who.headers}
        )

    async def search(self, who: Account, topic_id: int, q: str, **params: Any) -> httpx.Response:
        return await self.client.get(
            f"/api/topics/{topic_id}/search", params={"q": q, **params}, headers=who.headers
        )


class Stored:
    """What the server keeps: the files in its data directory and its material rows."""

    def __init__(self, data_dir: Path, engine: AsyncEngine) -> None:
        self.data_dir = data_dir
        self.engine = engine

    def files(self) -> set[str]:
        root = self.data_dir / "materials"
        if not root.exists():
            return set()
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}

    def blob(self, sha256: str) -> Path:
        return self.data_dir / "materials" / sha256[:2] / sha256

    async def rows(self) -> tuple[int, int]:
        async with self.engine.connect() as conn:
            materials = await conn.scalar(text("SELECT count(*) FROM materials"))
            chunks = await conn.scalar(text("SELECT count(*) FROM material_chunks"))
        return int(materials or 0), int(chunks or 0)

    async def snapshot(self) -> tuple[set[str], tuple[int, int]]:
        return self.files(), await self.rows()


@pytest.fixture(scope="module", params=["embedded", "services"])
def materials_backend(request: pytest.FixtureRequest) -> Any:
    """The backend matrix, per module (see ``api_backend`` in the API tests)."""
    return request.getfixturevalue(f"{request.param}_backend")


@pytest.fixture(scope="module")
async def materials_server(
    materials_backend: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Any]:
    from server.runner import start_in_process

    data_dir = tmp_path_factory.mktemp("data")
    settings = materials_backend.settings(data_dir=data_dir, upload_max_bytes=UPLOAD_LIMIT)
    port, stop = await start_in_process(settings)
    engine = create_async_engine(materials_backend.database_url)
    try:
        yield SimpleNamespace(
            base_url=f"http://127.0.0.1:{port}",
            port=port,
            settings=settings,
            stored=Stored(data_dir, engine),
        )
    finally:
        await engine.dispose()
        await stop()


@pytest.fixture
async def client(materials_server: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=materials_server.base_url, timeout=30.0) as c:
        yield c


@pytest.fixture
def api(client: httpx.AsyncClient, unique: Callable[[str], str]) -> Api:
    return Api(client, unique)


@pytest.fixture
def stored(materials_server: Any) -> Stored:
    result: Stored = materials_server.stored
    return result
