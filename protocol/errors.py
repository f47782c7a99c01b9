"""The error catalogue: every error code and every close code, with what a client does.

One table per kind, as data, so the server, the SDK, the browser page (``/static/catalogue.js``)
and the documents (``/asyncapi.json``, docs/protocol.md) read the same rules:

- :class:`ErrorCode`: the ``code`` of an ``error`` frame (the socket stays open) and of a REST
  error body ``{"detail", "code"}``. :data:`ERROR_CODES` says where each one is used and, for
  REST, with which HTTP status.
- :class:`AgentErrorCode`: the ``code`` of an ``agent.error`` room event (a tutor turn failed).
- :class:`CloseCode`: why a room socket was closed; :data:`CLOSE_CODES` gives each its
  :class:`Reconnect` policy.

A client branches on codes; ``detail`` and ``message`` texts are for people. Close codes in
4000-4999 are ours; the others are the standard ones we use deliberately.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, IntEnum, StrEnum
from types import MappingProxyType


class ErrorCode(StrEnum):
    """A machine-readable reason, shared by ``error`` frames and REST error bodies."""

    # The codes of ``error`` frames (NOT_FOUND, RATE_LIMITED and UNAVAILABLE also of REST).
    INVALID_FRAME = "invalid_frame"
    """The frame is not a JSON object of a known shape (bad JSON, binary, missing fields)."""
    UNKNOWN_TYPE = "unknown_type"
    """The frame's ``type`` is not one the server understands."""
    RATE_LIMITED = "rate_limited"
    """Too many frames, requests or tutor questions; nothing was applied. Try again later."""
    NOT_ALLOWED = "not_allowed"
    """The frame is well formed but the sender may not do this now (e.g. the session ended)."""
    NOT_FOUND = "not_found"
    """What the frame or request names does not exist, or is not visible to the caller."""
    NOTHING_DUE = "nothing_due"
    """A ``review`` found no quiz card due for the members in the room."""
    UNAVAILABLE = "unavailable"
    """A dependency is briefly unavailable; nothing was applied. Retry later."""
    INTERNAL = "internal"
    """A server fault. The connection stays usable."""
    # REST error bodies.
    MALFORMED_REQUEST = "malformed_request"
    """The request could not be parsed (a body that is not JSON, a broken multipart form)."""
    UNAUTHENTICATED = "unauthenticated"
    """No access token, a wrong or expired one, or wrong credentials."""
    FORBIDDEN = "forbidden"
    """The caller is known but may not do this (not a member, not the owner)."""
    METHOD_NOT_ALLOWED = "method_not_allowed"
    """The path exists but not with this method; ``Allow`` lists those it has."""
    CONFLICT = "conflict"
    """The request conflicts with the current state of what it names."""
    SESSION_ENDED = "session_ended"
    """The session has ended: it can be read but not joined, changed or connected to."""
    USERNAME_TAKEN = "username_taken"
    """Another account has this username."""
    TOO_LARGE = "too_large"
    """The request body or uploaded file is larger than the server accepts."""
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    """The body or uploaded file is of a type the server does not take, or is unreadable."""
    VALIDATION_FAILED = "validation_failed"
    """A field is missing or invalid; ``detail`` is usually the list of problems."""


class Surface(StrEnum):
    """Where an error code can appear."""

    FRAME = "frame"
    """An ``error`` frame on the room socket."""
    REST = "rest"
    """A REST error body, with the HTTP status of its :class:`ErrorSpec`."""
    AGENT = "agent"
    """An ``agent.error`` room event (:class:`AgentErrorCode`)."""


@dataclass(frozen=True)
class ErrorSpec:
    meaning: str
    action: str
    surfaces: frozenset[Surface]
    status: int | None = None
    """The HTTP status a REST answer with this code has; ``None`` for frame-only codes."""


_FRAME = frozenset({Surface.FRAME})
_REST = frozenset({Surface.REST})
_BOTH = _FRAME | _REST
_AGENT = frozenset({Surface.AGENT})

ERROR_CODES: Mapping[ErrorCode, ErrorSpec] = MappingProxyType(
    {
        ErrorCode.INVALID_FRAME: ErrorSpec(
            "The frame is not a JSON object of a known shape: bad JSON, a binary frame, missing "
            "or extra fields, blank or too long `text`.",
            "Fix the client; do not resend the frame as is.",
            _FRAME,
        ),
        ErrorCode.UNKNOWN_TYPE: ErrorSpec(
            "The frame's `type` is not one the server understands.",
            "Fix the client (or the server is older than the client).",
            _FRAME,
        ),
        ErrorCode.NOT_ALLOWED: ErrorSpec(
            "Well formed, but not allowed now (e.g. the session has ended, the tutor is off).",
            "Do not retry.",
            _FRAME,
        ),
        ErrorCode.NOTHING_DUE: ErrorSpec(
            "A `review` found no quiz card due for the members in the room.",
            "Review again when the next cards are due (`GET /api/sessions/{id}/review`).",
            _FRAME,
        ),
        ErrorCode.INTERNAL: ErrorSpec(
            "A server fault.", "Report it; the connection is still usable.", _FRAME
        ),
        ErrorCode.NOT_FOUND: ErrorSpec(
            "What the frame or request names does not exist, or is not visible to the caller.",
            "Refresh your state; do not retry.",
            _BOTH,
            404,
        ),
        ErrorCode.RATE_LIMITED: ErrorSpec(
            "Too many frames, requests or tutor questions; nothing was applied.",
            "Slow down, then send it again if it still matters.",
            _BOTH,
            429,
        ),
        ErrorCode.UNAVAILABLE: ErrorSpec(
            "A dependency (database, live state, file storage) is briefly unavailable; "
            "nothing was applied.",
            "Retry after a short delay (REST answers say how long in `Retry-After`).",
            _BOTH,
            503,
        ),
        ErrorCode.MALFORMED_REQUEST: ErrorSpec(
            "The request could not be parsed: a body that is not UTF-8 JSON, a broken "
            "multipart form, an upload cut short.",
            "Fix the client; do not resend as is.",
            _REST,
            400,
        ),
        ErrorCode.UNAUTHENTICATED: ErrorSpec(
            "No access token, a wrong or expired one, or wrong username or password.",
            "Log in again (`POST /api/auth/token`).",
            _REST,
            401,
        ),
        ErrorCode.FORBIDDEN: ErrorSpec(
            "The caller may not do this: not a member of the session, not its host or owner, "
            "removed from it.",
            "Do not retry.",
            _REST,
            403,
        ),
        ErrorCode.METHOD_NOT_ALLOWED: ErrorSpec(
            "The path does not take this method; the `Allow` header lists those it takes.",
            "Fix the client.",
            _REST,
            405,
        ),
        ErrorCode.CONFLICT: ErrorSpec(
            "The request conflicts with the current state of what it names.",
            "Reload the state, then decide again.",
            _REST,
            409,
        ),
        ErrorCode.SESSION_ENDED: ErrorSpec(
            "The session has ended: it can be read, not joined, changed or connected to.",
            "Do not retry.",
            _REST,
            409,
        ),
        ErrorCode.USERNAME_TAKEN: ErrorSpec(
            "Another account has this username.", "Choose another username.", _REST, 409
        ),
        ErrorCode.TOO_LARGE: ErrorSpec(
            "The request body or uploaded file is larger than the server accepts.",
            "Send less; do not resend as is.",
            _REST,
            413,
        ),
        ErrorCode.UNSUPPORTED_MEDIA_TYPE: ErrorSpec(
            "The body or file is of a type the server does not take, or could not be read.",
            "Send a supported type (uploads: PDF, Markdown or UTF-8 text).",
            _REST,
            415,
        ),
        ErrorCode.VALIDATION_FAILED: ErrorSpec(
            "A field is missing or invalid; `detail` lists the problems, each with `loc`, "
            "`msg` and `type` (an upload without its `file` part says so in a sentence).",
            "Fix the request.",
            _REST,
            422,
        ),
    }
)

# In the order of ErrorCode.
FRAME_ERROR_CODES = tuple(code for code in ErrorCode if Surface.FRAME in ERROR_CODES[code].surfaces)
REST_ERROR_CODES = tuple(code for code in ErrorCode if Surface.REST in ERROR_CODES[code].surfaces)

# The code a REST answer gets when the one refusing it named only a status (the router's 404
# and 405, FastAPI's own 400 and 422, a bare HTTPException).
STATUS_ERROR_CODES: Mapping[int, ErrorCode] = MappingProxyType(
    {
        400: ErrorCode.MALFORMED_REQUEST,
        401: ErrorCode.UNAUTHENTICATED,
        403: ErrorCode.FORBIDDEN,
        404: ErrorCode.NOT_FOUND,
        405: ErrorCode.METHOD_NOT_ALLOWED,
        409: ErrorCode.CONFLICT,
        413: ErrorCode.TOO_LARGE,
        415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        422: ErrorCode.VALIDATION_FAILED,
        429: ErrorCode.RATE_LIMITED,
        503: ErrorCode.UNAVAILABLE,
    }
)


def error_code_for_status(status: int) -> ErrorCode:
    """The default code of an HTTP error status; total: an unlisted 4xx is a malformed request,
    an unlisted 5xx an internal fault."""
    default = ErrorCode.MALFORMED_REQUEST if status < 500 else ErrorCode.INTERNAL
    return STATUS_ERROR_CODES.get(status, default)


class AgentErrorCode(StrEnum):
    """The ``code`` of an ``agent.error`` room event: why a tutor turn failed."""

    TIMEOUT = "timeout"
    """The model did not answer in time."""
    RATE_LIMITED = "rate_limited"
    """The model provider refused for rate or quota."""
    UNAVAILABLE = "unavailable"
    """No model could be reached (and no fallback could carry the turn)."""
    AUTH = "auth"
    """The model provider refused the server's credentials."""
    BAD_REQUEST = "bad_request"
    """The model provider refused the request the tutor made."""
    MODEL_ERROR = "model_error"
    """The model failed while answering, or its answer was cut off."""
    INTERRUPTED = "interrupted"
    """The turn was cut short by the server (a restart or a lost process); ask again."""


AGENT_ERROR_CODES: Mapping[AgentErrorCode, ErrorSpec] = MappingProxyType(
    {
        AgentErrorCode.TIMEOUT: ErrorSpec(
            "The model did not answer in time.", "Ask again later.", _AGENT
        ),
        AgentErrorCode.RATE_LIMITED: ErrorSpec(
            "The model provider refused for rate or quota.", "Ask again later.", _AGENT
        ),
        AgentErrorCode.UNAVAILABLE: ErrorSpec(
            "No model could be reached, and no fallback could carry the turn.",
            "Ask again later.",
            _AGENT,
        ),
        AgentErrorCode.AUTH: ErrorSpec(
            "The model provider refused the server's credentials.",
            "Tell the server's operator; asking again fails the same way.",
            _AGENT,
        ),
        AgentErrorCode.BAD_REQUEST: ErrorSpec(
            "The model provider refused the request the tutor made.",
            "Rephrase or ask again; report it if it repeats.",
            _AGENT,
        ),
        AgentErrorCode.MODEL_ERROR: ErrorSpec(
            "The model failed while answering, or its answer was cut off.", "Ask again.", _AGENT
        ),
        AgentErrorCode.INTERRUPTED: ErrorSpec(
            "The server cut the turn short (a restart, or the process running it was lost).",
            "Ask again.",
            _AGENT,
        ),
    }
)


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
    """Live state is briefly unavailable, or the process has too many joins in progress;
    reconnect after a short delay, no sooner than the reason's ``retry_after_ms`` if it has
    one (:func:`retry_after_ms`)."""
    SLOW_CONSUMER = 4008
    """The client did not read its frames fast enough; reconnect with ``last_seq``."""
    SESSION_ENDED = 4410
    """The session ended; reconnecting will not help."""
    UNAUTHORIZED = 4401
    """No token, or a token that is invalid or expired. Fetch new connection details."""
    FORBIDDEN = 4403
    """The token is valid but not for this session, or the user is no longer a member."""


class Reconnect(Enum):
    """What a client does after a close code. The values are the ``reconnect`` field of
    ``/asyncapi.json``'s ``x-close-codes``."""

    NEVER = "no"
    """Stop: the same connection would be closed the same way."""
    WITH_NEW_DETAILS = "after_new_connection_details"
    """Fetch new connection details (``POST /api/connection-details``), then connect; if that
    request is refused, stop."""
    WITH_BACKOFF = "with_last_seq"
    """Reconnect with ``last_seq`` and ``epoch`` after an exponential, jittered back-off."""


@dataclass(frozen=True)
class CloseSpec:
    reconnect: Reconnect
    meaning: str
    action: str
    retry_hint: bool = False
    """The close reason may carry ``retry_after_ms=<int>`` (:data:`RETRY_HINT_PATTERN`)."""


CLOSE_CODES: Mapping[CloseCode, CloseSpec] = MappingProxyType(
    {
        # The server itself closes with 1000 only after the client has left, or when it failed
        # to set the room up; a client that still wants the room just comes back.
        CloseCode.NORMAL: CloseSpec(
            Reconnect.WITH_BACKOFF,
            "Closed normally.",
            "Nothing to do if you closed it; otherwise reconnect with `last_seq`.",
        ),
        CloseCode.GOING_AWAY: CloseSpec(
            Reconnect.WITH_BACKOFF, "The server is going away.", "Reconnect with `last_seq`."
        ),
        CloseCode.POLICY_VIOLATION: CloseSpec(
            Reconnect.NEVER,
            "The connection request was malformed (e.g. `last_seq` is not an integer).",
            "Fix the URL; reconnecting with the same one fails again.",
        ),
        CloseCode.MESSAGE_TOO_BIG: CloseSpec(
            Reconnect.WITH_BACKOFF,
            "A frame exceeded `max_frame_bytes`.",
            "Do not resend that frame; reconnect with `last_seq`.",
        ),
        CloseCode.INTERNAL_ERROR: CloseSpec(
            Reconnect.WITH_BACKOFF, "A server fault.", "Reconnect with `last_seq`, with back-off."
        ),
        CloseCode.SERVICE_RESTART: CloseSpec(
            Reconnect.WITH_BACKOFF,
            "The process is shutting down.",
            "Reconnect (to another process) with `last_seq`.",
        ),
        CloseCode.TRY_AGAIN_LATER: CloseSpec(
            Reconnect.WITH_BACKOFF,
            "Live state is briefly unavailable, or the process is busy with other joins (a "
            "reconnect storm); then the reason carries `retry_after_ms=<int>`.",
            "Reconnect with `last_seq` after a short delay; when the reason carries "
            "`retry_after_ms=<int>`, wait at least that many milliseconds, plus some jitter.",
            retry_hint=True,
        ),
        CloseCode.SLOW_CONSUMER: CloseSpec(
            Reconnect.WITH_BACKOFF,
            "The client did not read its frames fast enough.",
            "Reconnect with `last_seq`; read frames promptly.",
        ),
        CloseCode.UNAUTHORIZED: CloseSpec(
            Reconnect.WITH_NEW_DETAILS,
            "No token, or an invalid or expired one.",
            "Fetch new connection details (`POST /api/connection-details`), then reconnect.",
        ),
        CloseCode.FORBIDDEN: CloseSpec(
            Reconnect.NEVER,
            "The token is not for this session, or the user is no longer a member.",
            "Stop; do not reconnect.",
        ),
        CloseCode.SESSION_ENDED: CloseSpec(
            Reconnect.NEVER, "The session ended.", "Stop; do not reconnect."
        ),
    }
)

# Close codes after which a client must not reconnect on its own.
FINAL_CLOSE_CODES = frozenset(
    code for code, spec in CLOSE_CODES.items() if spec.reconnect is Reconnect.NEVER
)

# A refused request for connection details, as the close code a refused socket would carry:
# rejoining cannot help, whatever the code's policy for a socket says.
REFUSED_STATUS_CLOSE_CODES: Mapping[int, CloseCode] = MappingProxyType(
    {
        401: CloseCode.UNAUTHORIZED,
        403: CloseCode.FORBIDDEN,
        404: CloseCode.FORBIDDEN,
        409: CloseCode.SESSION_ENDED,
        410: CloseCode.SESSION_ENDED,
    }
)


# A close reason's retry hint: "busy; retry_after_ms=250". One ``key=value`` item among items
# separated by ";", so a reason can carry other text (a close reason holds 123 bytes at most).
# The pattern is plain enough to mean the same as a JavaScript RegExp (the page reads it from
# /static/catalogue.js).
RETRY_HINT_KEY = "retry_after_ms"
RETRY_HINT_PATTERN = r"(?:^|;)\s*retry_after_ms=([0-9]{1,9})\s*(?:;|$)"
RETRY_AFTER_MAX_MS = 60_000
"""A hint above this is read as this: a client never waits longer on a server's word."""

_RETRY_HINT = re.compile(RETRY_HINT_PATTERN)


def with_retry_hint(reason: str, retry_after_ms: int) -> str:
    """``reason`` with the retry hint appended: ``with_retry_hint("busy", 250)`` is
    ``"busy; retry_after_ms=250"``. Raises ValueError unless ``retry_after_ms`` is >= 0."""
    if retry_after_ms < 0:
        raise ValueError("retry_after_ms must be >= 0")
    hint = f"{RETRY_HINT_KEY}={retry_after_ms}"
    return f"{reason}; {hint}" if reason else hint


# Close codes whose reason may carry the hint.
_HINTED = frozenset(code for code, spec in CLOSE_CODES.items() if spec.retry_hint)


def retry_after_ms(code: int, reason: str) -> int | None:
    """How long, in milliseconds, a socket closed with ``code`` and ``reason`` asks the client
    to wait before reconnecting; ``None`` when it asks nothing (another code, no hint, a
    malformed one). Never raises; a hint above :data:`RETRY_AFTER_MAX_MS` is read as that."""
    if code not in _HINTED or not isinstance(reason, str):
        return None
    found = _RETRY_HINT.search(reason)
    if found is None:
        return None
    return min(int(found[1]), RETRY_AFTER_MAX_MS)
