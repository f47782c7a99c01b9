"""Uploading PDF, Markdown and text files; listing, reading and deleting them; duplicates."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from tests.server.materials.files import make_pdf

if TYPE_CHECKING:
    from tests.server.materials.conftest import Api, Stored

NOTES_MD = """# Cell biology

## Photosynthesis

Plants capture light in their chloroplasts and turn carbon dioxide and water into glucose
and oxygen. Chlorophyll absorbs red and blue light.

## Mitochondria

Mitochondria are the powerhouse of the cell: they produce ATP by cellular respiration,
breaking glucose down with oxygen.
"""

MATERIAL_FIELDS = {
    "id",
    "topic_id",
    "filename",
    "content_type",
    "size_bytes",
    "sha256",
    "pages",
    "chunks",
    "created_at",
}


async def test_markdown_upload(api: Api, stored: Stored) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    data = NOTES_MD.encode()
    r = await api.upload(owner, topic, data, "cells.md")
    assert r.status_code == 201, r.text
    material = r.json()
    assert set(material) == MATERIAL_FIELDS
    assert material["topic_id"] == topic
    assert material["filename"] == "cells.md"
    assert material["content_type"] == "text/markdown"
    assert material["size_bytes"] == len(data)
    assert material["sha256"] == hashlib.sha256(data).hexdigest()
    assert material["pages"] is None
    # One passage per section: the title travels with the first.
    assert material["chunks"] == 2
    assert datetime.fromisoformat(material["created_at"]).tzinfo is not None
    assert stored.blob(material["sha256"]).read_bytes() == data


async def test_markdown_is_recognised_by_structure_not_name(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    r = await api.upload(owner, topic, NOTES_MD.encode(), "notes.txt")
    assert r.status_code == 201, r.text
    assert r.json()["content_type"] == "text/markdown"


async def test_plain_text_upload(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    data = b"Enzymes lower activation energy.\n\nThey are not used up.\n"
    r = await api.upload(owner, topic, data, "enzymes.txt")
    assert r.status_code == 201, r.text
    assert r.json()["content_type"] == "text/plain"
    assert r.json()["chunks"] == 1


async def test_markdown_name_marks_plain_text_as_markdown(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    r = await api.upload(owner, topic, b"Just a sentence.\n", "short.md")
    assert r.status_code == 201, r.text
    assert r.json()["content_type"] == "text/markdown"


async def test_utf8_text_with_bom_and_accents(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    data = "\ufeffLa mitochondrie produit de l'ATP. Ça marche.\n".encode()
    r = await api.upload(owner, topic, data, "fr.txt")
    assert r.status_code == 201, r.text
    hits = (await api.search(owner, topic, "mitochondrie")).json()
    assert [h["text"] for h in hits] == ["La mitochondrie produit de l'ATP. Ça marche."]


async def test_pdf_upload_keeps_page_numbers(api: Api, stored: Stored) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    data = make_pdf(
        [
            ["Chapter one: photosynthesis.", "Light reactions happen in the thylakoids."],
            ["Chapter two: respiration.", "The Krebs cycle runs in the mitochondrial matrix."],
            ["Chapter three: review questions."],
        ]
    )
    # The declared type and name say text; the bytes say PDF, and the bytes win.
    r = await api.client.post(
        f"/api/topics/{topic}/materials",
        files={"file": ("scan.txt", data, "text/plain")},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    material = r.json()
    assert material["content_type"] == "application/pdf"
    assert material["pages"] == 3
    assert material["chunks"] == 3
    assert stored.blob(material["sha256"]).read_bytes() == data
    hits = (await api.search(owner, topic, "Krebs cycle")).json()
    assert len(hits) == 1
    assert hits[0]["page"] == 2
    assert "mitochondrial matrix" in hits[0]["text"]
    assert hits[0]["material_id"] == material["id"]


async def test_list_get_delete(api: Api, stored: Stored) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    first = (await api.upload(owner, topic, b"First notes about cells.\n", "a.txt")).json()
    second = (await api.upload(owner, topic, b"Second notes about genes.\n", "b.txt")).json()

    listed = await api.client.get(f"/api/topics/{topic}/materials", headers=owner.headers)
    assert listed.status_code == 200
    assert [m["id"] for m in listed.json()] == [second["id"], first["id"]]

    got = await api.client.get(f"/api/materials/{first['id']}", headers=owner.headers)
    assert got.status_code == 200
    assert got.json() == first

    before = await stored.rows()
    deleted = await api.client.delete(f"/api/materials/{first['id']}", headers=owner.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert await stored.rows() == (before[0] - 1, before[1] - 1)
    assert not stored.blob(first["sha256"]).exists()
    assert stored.blob(second["sha256"]).exists()
    gone = await api.client.get(f"/api/materials/{first['id']}", headers=owner.headers)
    assert gone.status_code == 404
    again = await api.client.delete(f"/api/materials/{first['id']}", headers=owner.headers)
    assert again.status_code == 404
    assert (await api.search(owner, topic, "cells")).json() == []
    listed = await api.client.get(f"/api/topics/{topic}/materials", headers=owner.headers)
    assert [m["id"] for m in listed.json()] == [second["id"]]


async def test_same_bytes_in_same_topic_answer_the_existing_material(
    api: Api, stored: Stored
) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    data = b"Osmosis moves water across a membrane.\n"
    created = await api.upload(owner, topic, data, "osmosis.txt")
    assert created.status_code == 201
    before = await stored.snapshot()
    again = await api.upload(owner, topic, data, "renamed.txt")
    assert again.status_code == 200
    assert again.json() == created.json()
    assert await stored.snapshot() == before


async def test_shared_file_is_removed_with_its_last_material(api: Api, stored: Stored) -> None:
    owner = await api.signup("owner")
    topic_a = await api.topic(owner, "A")
    topic_b = await api.topic(owner, "B")
    data = b"Diffusion needs no energy.\n"
    a = (await api.upload(owner, topic_a, data)).json()
    b_response = await api.upload(owner, topic_b, data)
    assert b_response.status_code == 201
    b = b_response.json()
    assert a["id"] != b["id"] and a["sha256"] == b["sha256"]
    blob = stored.blob(a["sha256"])
    assert blob.exists()
    await api.client.delete(f"/api/materials/{a['id']}", headers=owner.headers)
    assert blob.exists()
    assert len((await api.search(owner, topic_b, "diffusion")).json()) == 1
    await api.client.delete(f"/api/materials/{b['id']}", headers=owner.headers)
    assert not blob.exists()
