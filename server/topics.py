"""How a topic appears in room frames; shared by the room endpoint, the tutor and the API."""

from __future__ import annotations

from typing import Any

from server.db.models import Topic


def topic_payload(topic: Topic) -> dict[str, Any]:
    """A topic as room frames carry it (``welcome.topic``, ``topic.changed``)."""
    return {
        "id": topic.id,
        "title": topic.title,
        "description": topic.description,
        "owner_id": topic.owner_id,
        "created_at": topic.created_at.isoformat().replace("+00:00", "Z"),
    }
