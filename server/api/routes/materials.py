"""Study materials of a topic: upload, list, read, delete, and search their text.

The topic's owner manages its materials; members of a session on the topic may read and
search them. Anyone else gets 404, as if neither topic nor material existed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect

from protocol.errors import ErrorCode
from protocol.events import MaterialAddedEvent, MaterialRemovedEvent, now_iso
from server.api.deps import (
    CurrentUser,
    DbDep,
    ServicesDep,
    SettingsDep,
    get_owned_topic,
    get_visible_topic,
    not_found,
)
from server.api.errors import RETRY_AFTER, ApiError
from server.api.material_schemas import MaterialPublic, SearchHit
from server.api.schemas import PathId, error_responses
from server.db.material_models import Material
from server.db.models import User
from server.materials.announce import announce
from server.materials.search import search_passages
from server.materials.service import delete_material, ingest
from server.materials.sniff import Unsupported
from server.materials.storage import BlobStore
from server.materials.upload import FIELD, UploadRejected, receive_upload

log = logging.getLogger(__name__)
router = APIRouter(tags=["materials"])

MATERIAL_NOT_FOUND = "material not found"
STORAGE_UNAVAILABLE = "file storage unavailable"
OWNER_ONLY = "only the topic's owner can change its materials"

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FIELD],
                    "properties": {
                        FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "A PDF, Markdown or plain-text (UTF-8) file. The "
                            "type is read from the content; the name only tells Markdown "
                            "from plain text.",
                        }
                    },
                }
            }
        },
    }
}


async def get_visible_material(db: AsyncSession, user: User, material_id: int) -> Material:
    """The material if ``user`` can see its topic; else 404."""
    material = await db.get(Material, material_id)
    if material is None:
        raise not_found(MATERIAL_NOT_FOUND)
    try:
        await get_visible_topic(db, user, material.topic_id)
    except ApiError:
        raise not_found(MATERIAL_NOT_FOUND) from None
    return material


# After refusing an upload, how much more of its body is read and dropped before answering.
LINGER_BYTES = 1024 * 1024
LINGER_S = 1.0


async def _linger(request: Request) -> None:
    """Read and drop up to ``LINGER_BYTES`` or ``LINGER_S`` of what is left of the body."""
    dropped = 0
    with contextlib.suppress(TimeoutError, ClientDisconnect):
        async with asyncio.timeout(LINGER_S):
            while dropped < LINGER_BYTES:
                message = await request.receive()
                if message["type"] != "http.request":
                    return
                dropped += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return


# Exempt from the small-body limit (server.api.middleware.BodyLimit): the upload streams its
# body and enforces STUDYROOM_UPLOAD_MAX_BYTES itself, with a 413 as soon as it is passed.
UPLOAD_PATH = re.compile(r"/api/topics/[^/]+/materials")


@router.post(
    "/api/topics/{topic_id}/materials",
    status_code=status.HTTP_201_CREATED,
    response_model=MaterialPublic,
    openapi_extra=_UPLOAD_BODY,
    responses={
        200: {
            "model": MaterialPublic,
            "description": "The topic already has a file with these exact bytes: that material.",
        },
        **error_responses(
            (400, "Malformed multipart body."),
            401,
            (403, "Only the topic's owner can upload."),
            404,
            (413, "The file is larger than the upload limit."),
            (415, "Not a PDF, Markdown or UTF-8 text file, or it could not be read."),
            (422, "No 'file' field."),
            (503, "The file storage is unavailable; retry later."),
        ),
    },
)
async def upload_material(
    topic_id: PathId,
    request: Request,
    response: Response,
    user: CurrentUser,
    db: DbDep,
    settings: SettingsDep,
    services: ServicesDep,
) -> Material:
    """Add a file to the topic's materials: its text is cut into passages for search.

    Uploading bytes the topic already has answers 200 with the existing material instead of
    storing a copy. A refused upload leaves nothing behind.
    """
    await get_owned_topic(db, user, topic_id, OWNER_ONLY)
    # The body may take minutes to arrive: hold no connection meanwhile.
    await db.commit()
    store = BlobStore(settings.data_dir)
    try:
        try:
            staging = await asyncio.to_thread(store.new_staging_path)
            staged = await receive_upload(request, staging, settings.upload_max_bytes)
        except OSError as exc:
            # The disk, not the client and not the database: full, read-only, missing.
            log.error("cannot stage an upload under %s: %r", settings.data_dir, exc)
            raise ApiError(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                STORAGE_UNAVAILABLE,
                ErrorCode.UNAVAILABLE,
                headers=RETRY_AFTER,
            ) from None
        material, created = await ingest(db, store, settings, topic_id, staged)
    except UploadRejected as exc:
        # The rest of the body may still be on its way. Most clients read the answer only once
        # they have sent everything, and a connection closed on unread data is reset, losing the
        # answer: take a little more of it, bounded, then answer and close.
        if not exc.body_ended:
            await _linger(request)
        raise ApiError(exc.status, exc.detail, exc.code, headers={"Connection": "close"}) from None
    except Unsupported as exc:
        raise ApiError(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(exc), ErrorCode.UNSUPPORTED_MEDIA_TYPE
        ) from None
    except ClientDisconnect:
        # Nobody will read this answer; it keeps a vanished client from being logged as a 500.
        raise ApiError(
            status.HTTP_400_BAD_REQUEST, "the upload was interrupted", ErrorCode.MALFORMED_REQUEST
        ) from None
    if not created:
        response.status_code = status.HTTP_200_OK
        return material
    shown = MaterialPublic.model_validate(material).model_dump(mode="json")
    added = MaterialAddedEvent(material=shown, ts=now_iso())
    await announce(db, services.hub, services.live.presence, topic_id, added)
    return material


@router.get(
    "/api/topics/{topic_id}/materials",
    response_model=list[MaterialPublic],
    responses=error_responses(401, 404),
)
async def list_materials(topic_id: PathId, user: CurrentUser, db: DbDep) -> Sequence[Material]:
    """The topic's materials, newest first."""
    await get_visible_topic(db, user, topic_id)
    rows = await db.scalars(
        select(Material).where(Material.topic_id == topic_id).order_by(Material.id.desc())
    )
    return rows.all()


@router.get(
    "/api/topics/{topic_id}/search",
    response_model=list[SearchHit],
    responses=error_responses(401, 404, 422),
)
async def search_materials(
    topic_id: PathId,
    user: CurrentUser,
    db: DbDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Words to look for.")],
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> list[SearchHit]:
    """The passages of the topic's materials that best match ``q``, best first.

    A passage matches when it has any of the words of ``q`` (stemmed, so "produces" finds
    "produce"); passages with more and rarer matching words rank higher. ``q`` is plain
    text: quotes and operators in it are not search syntax.
    """
    await get_visible_topic(db, user, topic_id)
    found = await search_passages(db, topic_id, q, limit)
    return [
        SearchHit(
            material_id=p.material_id,
            chunk_id=p.chunk_id,
            text=p.text,
            score=p.score,
            page=p.page,
            filename=p.filename,
        )
        for p in found
    ]


@router.get(
    "/api/materials/{material_id}",
    response_model=MaterialPublic,
    responses=error_responses(401, 404),
)
async def read_material(material_id: PathId, user: CurrentUser, db: DbDep) -> Material:
    return await get_visible_material(db, user, material_id)


@router.get(
    "/api/materials/{material_id}/content",
    response_class=FileResponse,
    responses={
        200: {"description": "The uploaded bytes as stored.", "content": {"*/*": {}}},
        **error_responses(401, 404, (503, "The file storage is unavailable; retry later.")),
    },
)
async def download_material(
    material_id: PathId, user: CurrentUser, db: DbDep, settings: SettingsDep
) -> FileResponse:
    """The file as it was uploaded, byte for byte: to the topic's owner and the members of its
    sessions (anyone else gets 404)."""
    material = await get_visible_material(db, user, material_id)
    path = BlobStore(settings.data_dir).path_for(material.sha256)
    if not await asyncio.to_thread(path.is_file):
        log.error("material %s has no stored file at %s", material_id, path)
        raise ApiError(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            STORAGE_UNAVAILABLE,
            ErrorCode.UNAVAILABLE,
            headers=RETRY_AFTER,
        )
    # Streamed from disk in chunks; the name is quoted for any client (RFC 6266 / 5987).
    return FileResponse(
        path,
        media_type=material.content_type,
        filename=material.filename,
        content_disposition_type="attachment",
    )


@router.delete(
    "/api/materials/{material_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, (403, "Only the topic's owner can delete."), 404),
)
async def remove_material(
    material_id: PathId,
    user: CurrentUser,
    db: DbDep,
    settings: SettingsDep,
    services: ServicesDep,
) -> Response:
    """Delete the material and its passages (and its file, unless another topic has it)."""
    material = await get_visible_material(db, user, material_id)
    topic_id = material.topic_id
    await get_owned_topic(db, user, topic_id, OWNER_ONLY)
    await delete_material(db, BlobStore(settings.data_dir), material)
    removed = MaterialRemovedEvent(material_id=material_id, ts=now_iso())
    await announce(db, services.hub, services.live.presence, topic_id, removed)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
