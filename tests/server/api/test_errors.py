"""A dependency that is down is a 503 that says which one, never a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from server.api.errors import install_error_handlers
from server.live.ports import LiveStateUnavailable


def _wrapped(cause: BaseException) -> DBAPIError:
    # What SQLAlchemy raises for a driver error: its DBAPI adapter's error, caused by the driver's.
    orig = Exception("adapted")
    orig.__cause__ = cause
    return DBAPIError("SELECT 1", None, orig)


FAILURES: dict[str, tuple[BaseException, int, str | None]] = {
    "live-state": (LiveStateUnavailable("redis down"), 503, "live state unavailable"),
    "operational": (
        OperationalError("SELECT 1", None, Exception("unable to open database file")),
        503,
        "database unavailable",
    ),
    "refused": (ConnectionRefusedError(111, "refused"), 503, "database unavailable"),
    "timeout": (TimeoutError(), 503, "database unavailable"),
    "asyncpg-bare": (asyncpg.CannotConnectNowError("starting up"), 503, "database unavailable"),
    "asyncpg-wrapped": (
        _wrapped(asyncpg.TooManyConnectionsError("full")),
        503,
        "database unavailable",
    ),
    "os-wrapped": (_wrapped(ConnectionResetError()), 503, "database unavailable"),
    # A bad statement is a bug, and a bug is a 500.
    "integrity": (IntegrityError("INSERT", None, Exception("unique")), 500, None),
}


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/fail/{name}")
    async def fail(name: str) -> None:
        raise FAILURES[name][0]

    return app


@pytest.mark.parametrize("name", list(FAILURES))
async def test_dependency_failures(name: str) -> None:
    _, status, detail = FAILURES[name]
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.get(f"/fail/{name}")
    assert r.status_code == status
    if detail is not None:
        assert r.json() == {"detail": detail, "code": "unavailable"}
        assert "retry-after" in r.headers


async def test_database_down_is_503(make_server: Any, backend: Any, tmp_path: Path) -> None:
    if backend.name == "embedded":
        url = f"sqlite+aiosqlite:///{tmp_path}/no-such-dir/studyroom.db"
    else:
        url = "postgresql+asyncpg://postgres@127.0.0.1:1/studyroom"
    running = await make_server(database_url=url)
    async with httpx.AsyncClient(base_url=running.base_url, timeout=30.0) as client:
        r = await client.post(
            "/api/users", json={"username": "nobody", "password": "long enough password"}
        )
        assert r.status_code == 503
        assert r.json() == {"detail": "database unavailable", "code": "unavailable"}
        r = await client.post(
            "/api/auth/token", data={"username": "nobody", "password": "long enough password"}
        )
        assert r.status_code == 503
        r = await client.get("/readyz")
        assert r.status_code == 503 and r.json()["code"] == "unavailable"
        detail = r.json()["detail"]
        assert detail["database"] != "ok"
        assert detail["live_state"] == "ok"
        assert (await client.get("/healthz")).status_code == 200
