"""A study session's status, as REST answers and the room rules name it."""

from __future__ import annotations

from enum import StrEnum


class SessionStatus(StrEnum):
    ACTIVE = "active"
    """Members may connect to its room, chat and ask."""
    ENDED = "ended"
    """Read-only: its transcript stays; nobody joins, connects or changes it any more."""


class TutorMode(StrEnum):
    """How a session's tutor teaches; the session's hosts choose it."""

    SOCRATIC = "socratic"
    """Guiding questions and hints before answers (the default)."""
    EXPLAIN = "explain"
    """Direct explanations, then a check of understanding."""
    OFF = "off"
    """No tutor: asks are refused with ``error`` ``not_allowed``."""


class MemberRole(StrEnum):
    """What a member may do in a session: hosts run it (the creator is the first host)."""

    HOST = "host"
    MEMBER = "member"
