"""Errors that are not the client's fault and not a bug: a dependency is down.

They answer 503 with a ``detail`` saying which dependency, so clients and load balancers
retry later instead of seeing a 500.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from server.db.errors import ASYNCPG_CONNECTION_ERRORS, is_database_unavailable
from server.live.ports import LiveStateUnavailable

log = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "database unavailable"
LIVE_STATE_UNAVAILABLE = "live state unavailable"


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
    for kind in ASYNCPG_CONNECTION_ERRORS:
        app.add_exception_handler(kind, _database_error)
