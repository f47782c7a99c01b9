"""The error catalogue: codes shared by ``error`` frames and REST details, and close codes.

A client can branch on ``code``; ``message`` is for people. Close codes in 4000-4999 are ours;
the others are the standard ones we use deliberately.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ErrorCode(StrEnum):
    INVALID_FRAME = "invalid_frame"
    """The frame is not a JSON object of a known shape (bad JSON, binary, missing fields)."""
    UNKNOWN_TYPE = "unknown_type"
    """The frame's ``type`` is not one the server understands."""
    RATE_LIMITED = "rate_limited"
    """Too many frames or tutor requests; the frame was dropped. Try again later."""
    NOT_ALLOWED = "not_allowed"
    """The frame is well formed but the sender may not do this now (e.g. the session ended)."""
    NOT_FOUND = "not_found"
    """The frame refers to something that does not exist (a turn, a quiz)."""
    UNAVAILABLE = "unavailable"
    """A dependency is briefly unavailable; the frame was not applied. Retry later."""
    INTERNAL = "internal"
    """A server fault. The connection stays usable."""


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    """A frame exceeded ``max_frame_bytes``."""
    INTERNAL_ERROR = 1011
    POLICY_VIOLATION = 1008
    """The connection request was malformed (e.g. ``last_seq`` is not a number)."""
    SERVICE_RESTART = 1012
    """The process is shutting down; reconnect (to another process) with ``last_seq``."""
    TRY_AGAIN_LATER = 1013
    """Live state is briefly unavailable; reconnect after a short delay."""
    SLOW_CONSUMER = 4008
    """The client did not read its frames fast enough; reconnect with ``last_seq``."""
    SESSION_ENDED = 4410
    """The session ended; reconnecting will not help."""
    UNAUTHORIZED = 4401
    """No token, or a token that is invalid or expired. Fetch new connection details."""
    FORBIDDEN = 4403
    """The token is valid but not for this session, or the user is no longer a member."""


# Close codes after which a client should not reconnect on its own.
FINAL_CLOSE_CODES = frozenset(
    {CloseCode.SESSION_ENDED, CloseCode.FORBIDDEN, CloseCode.UNAUTHORIZED}
)
