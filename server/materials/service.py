"""Adding and removing materials: a stored file and the rows that refer to it change together.

Several materials (in different topics) can share one stored file. Everything that adds or
removes a reference to a file holds ``lock_content`` for its hash until its transaction
ends, so a deletion can never remove a file that an upload has just started to rely on.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from server.config import Settings
from server.db.material_models import Material, MaterialChunk
from server.materials.extract import Extracted
from server.materials.names import display_name
from server.materials.reader import read_material
from server.materials.storage import BlobStore
from server.materials.upload import StagedUpload


async def lock_content(db: AsyncSession, sha256: str) -> None:
    """Hold, until ``db``'s transaction ends, the right to change who refers to ``sha256``."""
    if db.get_bind().dialect.name == "postgresql":
        # Advisory lock keys are signed 64-bit integers: the hash's first 8 bytes, shifted.
        key = int(sha256[:16], 16) - (1 << 63)
        await db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        # SQLite has one writer at a time: a write (of nothing) takes that lock now rather
        # than at the transaction's first real write.
        await db.execute(text("DELETE FROM materials WHERE 0"))


async def find_duplicate(db: AsyncSession, topic_id: int, sha256: str) -> Material | None:
    found: Material | None = await db.scalar(
        select(Material).where(Material.topic_id == topic_id, Material.sha256 == sha256)
    )
    return found


async def ingest(
    db: AsyncSession, store: BlobStore, settings: Settings, topic_id: int, staged: StagedUpload
) -> tuple[Material, bool]:
    """Make ``staged`` a material of ``topic_id``: ``(material, True)`` when new, or the
    topic's material with the same content and False.

    Raises ``Unsupported`` when the file is not a material we can read; nothing is stored
    then. The staging file is gone afterwards in every case.
    """
    try:
        existing = await find_duplicate(db, topic_id, staged.sha256)
        if existing is not None:
            return existing, False
        # Reading may take seconds: hold no connection meanwhile.
        await db.commit()
        filename = display_name(staged.filename)
        extracted = await read_material(
            staged.path,
            filename,
            max_chars=settings.material_chunk_chars,
            max_text_chars=settings.upload_max_bytes,
            time_limit_s=settings.extract_timeout_s,
        )
        return await _store(db, store, topic_id, staged, filename, extracted)
    finally:
        await asyncio.to_thread(store.discard, staged.path)


async def _store(
    db: AsyncSession,
    store: BlobStore,
    topic_id: int,
    staged: StagedUpload,
    filename: str,
    extracted: Extracted,
) -> tuple[Material, bool]:
    await lock_content(db, staged.sha256)
    # Checked again under the lock: the same file may have been uploaded meanwhile.
    existing = await find_duplicate(db, topic_id, staged.sha256)
    if existing is not None:
        await db.commit()
        return existing, False
    material = Material(
        topic_id=topic_id,
        filename=filename,
        content_type=extracted.content_type,
        size_bytes=staged.size,
        sha256=staged.sha256,
        pages=extracted.pages,
        chunks=len(extracted.chunks),
    )
    placed = False
    try:
        db.add(material)
        await db.flush()
        if extracted.chunks:
            await db.execute(
                insert(MaterialChunk),
                [
                    {"material_id": material.id, "ordinal": i, "page": c.page, "text": c.text}
                    for i, c in enumerate(extracted.chunks)
                ],
            )
        placed = await asyncio.to_thread(store.place, staged.path, staged.sha256)
        await db.commit()
    except BaseException:
        # Before the rollback, which releases the lock: nobody else can refer to it yet.
        if placed:
            await asyncio.to_thread(store.remove, staged.sha256)
        await db.rollback()
        raise
    return material, True


async def delete_material(db: AsyncSession, store: BlobStore, material: Material) -> None:
    """Remove ``material`` and its passages; its file too unless another material has it."""
    material_id, sha256 = material.id, material.sha256
    await lock_content(db, sha256)
    await db.execute(delete(Material).where(Material.id == material_id))
    still_used = await db.scalar(select(Material.id).where(Material.sha256 == sha256).limit(1))
    if still_used is None:
        await asyncio.to_thread(store.remove, sha256)
    await db.commit()
