"""Who may do what with a topic's materials: owner everything, members read, others nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.server.materials.conftest import Api

NOTES = b"Ribosomes build proteins from amino acids.\n"


async def test_member_reads_and_searches_but_cannot_change(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    material = (await api.upload(owner, topic, NOTES)).json()
    member = await api.member_of(owner, topic)

    listed = await api.client.get(f"/api/topics/{topic}/materials", headers=member.headers)
    assert listed.status_code == 200 and [m["id"] for m in listed.json()] == [material["id"]]
    got = await api.client.get(f"/api/materials/{material['id']}", headers=member.headers)
    assert got.status_code == 200 and got.json() == material
    hits = await api.search(member, topic, "ribosomes")
    assert hits.status_code == 200 and len(hits.json()) == 1

    upload = await api.upload(member, topic, b"Member notes.\n")
    assert upload.status_code == 403
    deleted = await api.client.delete(f"/api/materials/{material['id']}", headers=member.headers)
    assert deleted.status_code == 403
    still = await api.client.get(f"/api/materials/{material['id']}", headers=owner.headers)
    assert still.status_code == 200


async def test_outsider_sees_nothing(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    material = (await api.upload(owner, topic, NOTES)).json()
    outsider = await api.signup("outsider")

    for response in (
        await api.client.get(f"/api/topics/{topic}/materials", headers=outsider.headers),
        await api.client.get(f"/api/materials/{material['id']}", headers=outsider.headers),
        await api.client.delete(f"/api/materials/{material['id']}", headers=outsider.headers),
        await api.search(outsider, topic, "ribosomes"),
        await api.upload(outsider, topic, b"Outsider notes.\n"),
    ):
        assert response.status_code == 404, response.request.url


async def test_missing_ids_are_404(api: Api) -> None:
    owner = await api.signup("owner")
    for response in (
        await api.client.get("/api/materials/999999999", headers=owner.headers),
        await api.client.delete("/api/materials/999999999", headers=owner.headers),
        await api.client.get("/api/topics/999999999/materials", headers=owner.headers),
        await api.upload(owner, 999999999, NOTES),
    ):
        assert response.status_code == 404


async def test_anonymous_is_401(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    material = (await api.upload(owner, topic, NOTES)).json()
    for response in (
        await api.client.post(f"/api/topics/{topic}/materials", files={"file": ("a.txt", NOTES)}),
        await api.client.get(f"/api/topics/{topic}/materials"),
        await api.client.get(f"/api/materials/{material['id']}"),
        await api.client.delete(f"/api/materials/{material['id']}"),
        await api.client.get(f"/api/topics/{topic}/search", params={"q": "x"}),
    ):
        assert response.status_code == 401
