"""Errors that are not the client's fault and not a bug: a dependency is down.

They answer 503 with a ``detail`` saying which dependency, so clients and load balancers
retry later instead of seeing a 500.
"""

from __future__ import annotations

import logging

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from server.live.ports import LiveStateUnavailable

log = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "database unavailable"
LIVE_STATE_UNAVAILABLE = "live state unavailable"

# asyncpg's failures that mean "no usable connection" rather than "bad statement". SQLAlchemy
# normally wraps them; these are matched both bare and as the cause of a wrapped error.
_ASYNCPG_CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached, as opposed to a bad query."""
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            return True
        cause = exc.orig.__cause__ if exc.orig is not None else None
        return isinstance(cause, (OSError, *_ASYNCPG_CONNECTION_ERRORS))
    # Pool exhaustion: every connection is busy for longer than the pool timeout.
    if isinstance(exc, sa_exc.TimeoutError):
        return True
    # OSError covers refused/reset connections and TimeoutError (asyncio's too).
    return isinstance(exc, (OSError, *_ASYNCPG_CONNECTION_ERRORS))


def _unavailable(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if not is_database_unavailable(exc):
        # A real bug (a constraint we did not expect, bad SQL): let it be the 500 it is.
        raise exc
    log.warning("%s %s: database unavailable: %r", request.method, request.url.path, exc)
    return _unavailable(DATABASE_UNAVAILABLE)


async def _live_state_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: live state unavailable: %r", request.method, request.url.path, exc)
    return _unavailable(LIVE_STATE_UNAVAILABLE)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LiveStateUnavailable, _live_state_error)
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)
    app.add_exception_handler(sa_exc.TimeoutError, _database_error)
    app.add_exception_handler(OSError, _database_error)
    for kind in _ASYNCPG_CONNECTION_ERRORS:
        app.add_exception_handler(kind, _database_error)
