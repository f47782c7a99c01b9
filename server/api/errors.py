"""Every REST error answer is ``{"detail": ..., "code": ...}``, with ``code`` from the catalogue.

Routes raise :class:`ApiError` with the code that says what went wrong; whatever else refuses a
request (the router's 404 and 405, FastAPI's 400 and 422, the body limit's 413, a bare
``HTTPException``) gets the default code of its status (``protocol.errors.STATUS_ERROR_CODES``).

A dependency that is down is neither the client's fault nor a bug: it answers 503 with
``unavailable`` and a ``detail`` saying which dependency, so clients and load balancers retry
later instead of seeing a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.utils import is_body_allowed_for_status_code
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException

from protocol.errors import REST_ERROR_CODES, ErrorCode, error_code_for_status
from server.db.errors import ASYNCPG_CONNECTION_ERRORS, is_database_unavailable
from server.live.ports import LiveStateUnavailable

log = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "database unavailable"
LIVE_STATE_UNAVAILABLE = "live state unavailable"
RETRY_AFTER = {"Retry-After": "1"}


class ApiError(HTTPException):
    """An HTTP error answer with its catalogue ``code`` (by default, the status's own)."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        code: ErrorCode | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, detail, dict(headers) if headers else None)
        self.code = code or error_code_for_status(status_code)


def error_body(detail: Any, code: ErrorCode) -> dict[str, Any]:
    return {"detail": detail, "code": code.value}


def _code_of(exc: HTTPException) -> ErrorCode:
    code = getattr(exc, "code", None)
    return code if isinstance(code, ErrorCode) else error_code_for_status(exc.status_code)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if not is_body_allowed_for_status_code(exc.status_code):
        return Response(status_code=exc.status_code, headers=exc.headers)
    body = error_body(exc.detail, _code_of(exc))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    body = error_body(jsonable_encoder(exc.errors()), ErrorCode.VALIDATION_FAILED)
    return JSONResponse(body, status_code=422)


def unavailable(detail: str) -> JSONResponse:
    return JSONResponse(
        error_body(detail, ErrorCode.UNAVAILABLE),
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers=RETRY_AFTER,
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if not is_database_unavailable(exc):
        # A real bug (a constraint we did not expect, bad SQL): let it be the 500 it is.
        raise exc
    log.warning("%s %s: database unavailable: %r", request.method, request.url.path, exc)
    return unavailable(DATABASE_UNAVAILABLE)


async def _live_state_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s: live state unavailable: %r", request.method, request.url.path, exc)
    return unavailable(LIVE_STATE_UNAVAILABLE)


def rest_code_schema() -> dict[str, Any]:
    """The JSON schema of a REST error's ``code``: one of the catalogue's REST codes."""
    return {
        "type": "string",
        "enum": [code.value for code in REST_ERROR_CODES],
        "description": "What went wrong, for programs; see docs/protocol.md, 'Error codes'.",
    }


def _document_validation_code(app: FastAPI) -> None:
    """FastAPI writes its own 422 schema (``HTTPValidationError``); it gains ``code`` too."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schema = document.get("components", {}).get("schemas", {}).get("HTTPValidationError")
        if schema is not None:
            schema.setdefault("properties", {})["code"] = {
                **rest_code_schema(),
                "const": ErrorCode.VALIDATION_FAILED.value,
            }
            schema["required"] = sorted({*schema.get("required", []), "detail", "code"})
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as ``{"detail", "code"}`` and say so in the OpenAPI document."""
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(LiveStateUnavailable, _live_state_error)
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)
    app.add_exception_handler(sa_exc.TimeoutError, _database_error)
    app.add_exception_handler(OSError, _database_error)
    for kind in ASYNCPG_CONNECTION_ERRORS:
        app.add_exception_handler(kind, _database_error)
    _document_validation_code(app)
