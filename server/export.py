"""Everything stored about one user, as one JSON document (``GET /api/users/me/export``).

What a learner may take elsewhere (GDPR article 20): the account (never the password hash),
the topics they own with their materials' metadata (each file is at its content URL), the
sessions they belong to, every room event they authored, their goals, concept progress and
quiz cards' concepts. Other people's words are not theirs to take and are left out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.material_models import Material
from server.db.models import Membership, StudySession, Topic, TranscriptEvent, User
from server.db.progress_models import ConceptProgress, Goal

FORMAT = "studyroom-export/1"


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def export_user(db: AsyncSession, user: User) -> dict[str, Any]:
    topics = list(await db.scalars(select(Topic).where(Topic.owner_id == user.id)))
    topic_ids = [t.id for t in topics]
    materials = (
        list(await db.scalars(select(Material).where(Material.topic_id.in_(topic_ids))))
        if topic_ids
        else []
    )
    memberships = (
        await db.execute(
            select(StudySession, Membership)
            .join(Membership, Membership.session_id == StudySession.id)
            .where(Membership.user_id == user.id)
            .order_by(StudySession.id)
        )
    ).all()
    said = await db.scalars(
        select(TranscriptEvent)
        .where(TranscriptEvent.user_id == user.id)
        .order_by(TranscriptEvent.session_id, TranscriptEvent.seq)
    )
    goals = await db.scalars(select(Goal).where(Goal.user_id == user.id).order_by(Goal.id))
    progress = await db.scalars(
        select(ConceptProgress)
        .where(ConceptProgress.user_id == user.id)
        .order_by(ConceptProgress.id)
    )
    return {
        "format": FORMAT,
        "exported_at": datetime.now(UTC).isoformat(),
        "user": {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "created_at": _when(user.created_at),
        },
        "topics": [
            {
                "id": t.id,
                "title": t.title,
                "description": t.description,
                "created_at": _when(t.created_at),
                "materials": [
                    {
                        "id": m.id,
                        "filename": m.filename,
                        "content_type": m.content_type,
                        "size_bytes": m.size_bytes,
                        "sha256": m.sha256,
                        "created_at": _when(m.created_at),
                        "content_url": f"/api/materials/{m.id}/content",
                    }
                    for m in materials
                    if m.topic_id == t.id
                ],
            }
            for t in topics
        ],
        "sessions": [
            {
                "id": s.id,
                "title": s.title,
                "topic_id": s.topic_id,
                "status": s.status,
                "owner": s.owner_id == user.id,
                "joined_at": _when(m.joined_at),
                "created_at": _when(s.created_at),
                "ended_at": _when(s.ended_at),
            }
            for s, m in memberships
        ],
        "messages": [
            {"session_id": e.session_id, "seq": e.seq, **json.loads(e.body)} for e in said
        ],
        "goals": [
            {
                "id": g.id,
                "topic_id": g.topic_id,
                "title": g.title,
                "metric": g.metric,
                "target": g.target,
                "due_date": g.due_date.isoformat() if g.due_date else None,
                "created_at": _when(g.created_at),
            }
            for g in goals
        ],
        "progress": [
            {
                "topic_id": p.topic_id,
                "concept": p.concept,
                "mastery": p.mastery,
                "reviews": p.reviews,
                "next_review_at": _when(p.next_review_at),
            }
            for p in progress
        ],
    }
