"""Request metrics as a plain ASGI middleware.

Not ``BaseHTTPMiddleware``: that wraps every response body in an extra task and stream, which
costs latency on every request; counting needs only the response's start message.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
