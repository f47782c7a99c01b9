"""Telling "the database is not answering" apart from "this statement is wrong".

The first is retried (the transcript writer) or answered with 503 (REST); the second is a bug
or bad data and must not be retried forever.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

# asyncpg's failures that mean "no usable connection" rather than "bad statement". SQLAlchemy
# normally wraps them; these are matched both bare and as the cause of a wrapped error.
ASYNCPG_CONNECTION_ERRORS: tuple[type[Exception], ...] = (
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
        return isinstance(cause, (OSError, *ASYNCPG_CONNECTION_ERRORS))
    # Pool exhaustion: every connection is busy for longer than the pool timeout.
    if isinstance(exc, sa_exc.TimeoutError):
        return True
    # OSError covers refused/reset connections and TimeoutError (asyncio's too).
    return isinstance(exc, (OSError, *ASYNCPG_CONNECTION_ERRORS))
