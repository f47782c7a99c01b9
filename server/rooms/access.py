"""Who may open a room socket: the Origin allow-list, and what a refusal is closed with.

The token and the session's gate are checked by :class:`~server.rooms.gatekeeper.Gatekeeper`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.websockets import WebSocket

from protocol.errors import CloseCode
from protocol.events import UserRef
from server.config import Settings


def origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """Browsers always send Origin; other clients may not, and cannot be forged into it."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    allowed = settings.allowed_origins
    if "*" in allowed or origin in allowed:
        return True
    if allowed:
        return False
    # No list configured: only the server's own origin (a page it served).
    host = websocket.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


@dataclass(frozen=True)
class Admission:
    user: UserRef
    topic: dict[str, Any] | None


class Refused(Exception):
    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
