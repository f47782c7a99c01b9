"""Plain ASGI middleware: request metrics, complete ``Allow`` headers on 405 answers, and a
limit on request bodies.

Not ``BaseHTTPMiddleware``: that wraps every response body in an extra task and stream, which
costs latency on every request; both need only the response's start message.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol.errors import ErrorCode
from server.metrics import Metrics

UNMATCHED = "unmatched"
# Anything else is labelled "other": label values must not be chosen by clients.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    """Counts HTTP requests by method, route template and status, and times them.

    The route template (``/api/sessions/{session_id}``), not the path, labels the series, so
    their number stays bounded whatever ids clients send. WebSocket scopes pass through: the
    room socket keeps its own metrics.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A request that fails before answering is reported as the 500 the server sends.
        status = 500
        started = time.perf_counter()

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # The router records the matched route in the scope it was given, which is ours.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.http_requests.labels(method, route, str(status)).inc()
            self.metrics.http_latency.labels(route).observe(time.perf_counter() - started)


class AllowedMethods:
    """Lists in a 405's ``Allow`` every method the path has (RFC 9110, section 15.5.6).

    The router answers 405 from the first route whose path matches, and FastAPI makes one route
    per method: ``DELETE /api/topics`` would be told ``Allow: POST`` although ``GET`` works too.
    The methods come from the application's OpenAPI document, the same list clients are given;
    a literal path (``/api/sessions/join``) wins over a template that also matches it
    (``/api/sessions/{session_id}``). Paths the document does not describe keep their answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._table: list[tuple[re.Pattern[str], bool, frozenset[str]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        literal = self._literal_methods(scope)
        if literal and scope["method"] not in literal | ({"HEAD"} if "GET" in literal else set()):
            allow = ", ".join(sorted(literal))
            response = JSONResponse(
                {"detail": "Method Not Allowed", "code": ErrorCode.METHOD_NOT_ALLOWED.value},
                status_code=405,
                headers={"Allow": allow},
            )
            await response(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = self._methods(scope)
                if methods:
                    headers = [
                        (k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"
                    ]
                    headers.append((b"allow", ", ".join(sorted(methods)).encode("latin-1")))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_allow)

    def _literal_methods(self, scope: Scope) -> frozenset[str]:
        """The methods of the literal documented path ``scope`` asks for; empty if none is."""
        path: str = scope["path"]
        matching = (
            methods
            for (regex, is_literal, methods) in self._paths(scope)
            if is_literal and regex.fullmatch(path)
        )
        return next(matching, frozenset())

    def _paths(self, scope: Scope) -> list[tuple[re.Pattern[str], bool, frozenset[str]]]:
        if self._table is None:
            # The application sets itself in the scope before routing; its document is cached.
            openapi = getattr(scope.get("app"), "openapi", None)
            if openapi is None:
                return []
            self._table = _path_table(openapi())
        return self._table

    def _methods(self, scope: Scope) -> frozenset[str]:
        table = self._paths(scope)
        if not table:
            return frozenset()
        path: str = scope["path"]
        matches = [(literal, methods) for regex, literal, methods in table if regex.fullmatch(path)]
        literal = [methods for is_literal, methods in matches if is_literal]
        return literal[0] if literal else frozenset().union(*(m for _, m in matches))


# A path parameter as ``re.escape`` writes it: ``\{session_id\}``.
_TEMPLATE_PARAM = re.compile(r"\\\{[^/]+?\\\}")


def _path_table(document: dict[str, Any]) -> list[tuple[re.Pattern[str], bool, frozenset[str]]]:
    """Each documented path as a pattern, whether it is literal, and its methods."""
    table = []
    for path, operations in document.get("paths", {}).items():
        methods = frozenset(m.upper() for m in operations if m.upper() in _METHODS)
        pattern = _TEMPLATE_PARAM.sub("[^/]+", re.escape(path))
        table.append((re.compile(pattern), pattern == re.escape(path), methods))
    return table


class _BodyTooLarge(HTTPException):
    """Raised from ``receive``: routes pass an HTTPException through their body parsing, so the
    application's error handlers answer it like any other error."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is larger than {max_bytes} bytes")


class BodyLimit:
    """Answers 413 (``{"detail": …, "code": "too_large"}``, connection closed) to a request body
    over ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before anything is read; a body
    without one is counted as it arrives, and the route reading it gets a 413 HTTPException
    that the application's handlers answer. ``exempt`` lists (method, path pattern) pairs that
    stream their bodies and enforce their own limits, such as material uploads.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, exempt: tuple[tuple[str, re.Pattern[str]], ...] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(
            scope["method"] == method and pattern.fullmatch(scope["path"])
            for method, pattern in self.exempt
        ):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted_receive, send)

    async def _refuse(self, send: Send) -> None:
        detail = f"the request body is larger than {self.max_bytes} bytes"
        body = json.dumps({"detail": detail, "code": ErrorCode.TOO_LARGE.value}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # The rest of the body is not read: the connection cannot be reused.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
