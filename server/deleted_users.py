"""How a deleted account appears in what stays behind: the transcript names it
:data:`DELETED_NAME`, and its row keeps only the id (see :mod:`server.account_removal`)."""

from __future__ import annotations

import json

DELETED_NAME = "deleted user"


def tombstone_username(user_id: int) -> str:
    # ":" is not allowed in usernames, so no one can sign up as a tombstone, and the real name
    # is free for a new account at once.
    return f"deleted:{user_id}"


def anonymised(body: str) -> str:
    """The frame ``body`` with its ``user`` named :data:`DELETED_NAME`; unchanged otherwise."""
    try:
        frame = json.loads(body)
    except ValueError:
        return body
    user = frame.get("user") if isinstance(frame, dict) else None
    if not isinstance(user, dict):
        return body
    user["name"] = DELETED_NAME
    # Written as the room log writes frames (server/live: compact, UTF-8 as is).
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
