"""Errors the SDK raises."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A REST call answered with an error status; ``detail`` and ``code`` are the server's.

    ``code`` is one of ``protocol.errors.ErrorCode``'s values (``None`` from a server or proxy
    that sent none); branch on it rather than on ``detail``, which is for people.
    """

    def __init__(self, status: int, detail: Any, code: str | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.code = code


class RoomClosed(Exception):
    """The room cannot be rejoined (session ended, access revoked); ``code`` is the close code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"room closed ({code}): {reason}")
        self.code = code
        self.reason = reason


class RoomBusy(TimeoutError):
    """The room did not open in time because the server kept refusing the join as busy (close
    code 1013 with ``retry_after_ms``): a reconnect storm. Trying again a little later works."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"the server is busy ({code}: {reason}); try again in a moment")
        self.code = code
        self.reason = reason
