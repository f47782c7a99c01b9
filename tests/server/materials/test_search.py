"""Searching a topic's materials with the database's own full-text engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from server.db.engine import create_engine, session_factory
from server.materials.search import DatabaseMaterialSearch, search_terms
from tests.server.materials.test_upload import NOTES_MD

if TYPE_CHECKING:
    from tests.server.materials.conftest import Api


async def _topic_with_notes(api: Api) -> tuple[Any, int, int]:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    r = await api.upload(owner, topic, NOTES_MD.encode(), "cells.md")
    assert r.status_code == 201, r.text
    return owner, topic, int(r.json()["id"])


async def test_question_finds_the_passage_that_answers_it(api: Api) -> None:
    owner, topic, material_id = await _topic_with_notes(api)
    r = await api.search(owner, topic, "what produces ATP")
    assert r.status_code == 200
    hits = r.json()
    assert hits, "nothing found"
    best = hits[0]
    assert set(best) == {"material_id", "chunk_id", "text", "score", "page", "filename"}
    assert best["filename"] == "cells.md"
    assert "Mitochondria are the powerhouse" in best["text"]
    assert best["material_id"] == material_id
    assert best["page"] is None
    assert isinstance(best["chunk_id"], int)


async def test_results_are_best_first(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    for text in (
        b"Glucose is a sugar.\n",
        b"Glucose and oxygen feed respiration; respiration releases energy from glucose.\n",
        b"Proteins fold.\n",
    ):
        assert (await api.upload(owner, topic, text)).status_code == 201
    hits = (await api.search(owner, topic, "glucose respiration")).json()
    assert [h["text"][:7] for h in hits] == ["Glucose", "Glucose"]
    assert "respiration" in hits[0]["text"]
    assert hits[0]["score"] > hits[1]["score"] > 0


async def test_stemming_matches_other_forms(api: Api) -> None:
    owner, topic, _ = await _topic_with_notes(api)
    hits = (await api.search(owner, topic, "absorbing")).json()
    assert len(hits) == 1 and "Chlorophyll absorbs" in hits[0]["text"]


async def test_limit(api: Api) -> None:
    owner = await api.signup("owner")
    topic = await api.topic(owner)
    paragraphs = "\n\n".join(f"Paragraph {i} mentions enzymes. " + "x" * 700 for i in range(12))
    r = await api.upload(owner, topic, paragraphs.encode())
    assert r.json()["chunks"] == 12
    assert len((await api.search(owner, topic, "enzymes")).json()) == 5
    assert len((await api.search(owner, topic, "enzymes", limit=2)).json()) == 2
    assert len((await api.search(owner, topic, "enzymes", limit=50)).json()) == r.json()["chunks"]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"q": ""}, id="empty-q"),
        pytest.param({"q": "x" * 501}, id="long-q"),
        pytest.param({"q": "atp", "limit": 0}, id="limit-0"),
        pytest.param({"q": "atp", "limit": 51}, id="limit-51"),
        pytest.param({}, id="no-q"),
    ],
)
async def test_invalid_search_is_422(api: Api, params: dict[str, Any]) -> None:
    owner, topic, _ = await _topic_with_notes(api)
    r = await api.client.get(f"/api/topics/{topic}/search", params=params, headers=owner.headers)
    assert r.status_code == 422


@pytest.mark.parametrize(
    "q",
    [
        '"unbalanced quote',
        "ATP AND OR NOT NEAR(",
        "mito* -oxygen +glucose",
        "text:atp ^atp {atp}",
        "a & b | !c <-> d:*",
        "'; DROP TABLE materials; --",
        "\u0410\u0422\u0424 \u7ebf\u7c92\u4f53 \U0001f9ec caf\u00e9",
        "or or or",
        "!!! ??? ...",
        "\\",
    ],
)
async def test_search_syntax_in_query_is_just_text(api: Api, q: str) -> None:
    owner, topic, _ = await _topic_with_notes(api)
    r = await api.search(owner, topic, q)
    assert r.status_code == 200, r.text
    assert isinstance(r.json(), list)


async def test_operators_do_not_hide_words(api: Api) -> None:
    owner, topic, _ = await _topic_with_notes(api)
    hits = (await api.search(owner, topic, '"ATP" NOT -mitochondria')).json()
    assert hits and "Mitochondria are the powerhouse" in hits[0]["text"]


async def test_search_sees_only_the_topic(api: Api) -> None:
    owner, topic, _ = await _topic_with_notes(api)
    other_topic = await api.topic(owner, "Physics")
    await api.upload(owner, other_topic, b"ATP is not physics, but this file says ATP.\n")
    hits = (await api.search(owner, topic, "ATP")).json()
    assert all("physics" not in h["text"] for h in hits)
    assert len(hits) == 1


async def test_tutor_search_uses_the_same_index(api: Api, materials_server: Any) -> None:
    _, topic, material_id = await _topic_with_notes(api)
    engine = create_engine(materials_server.settings.database_url)
    try:
        search = DatabaseMaterialSearch(session_factory(engine))
        passages = await search.search(topic, "What produces ATP in a cell?", 3)
        assert passages
        assert passages[0].material_id == material_id
        assert "Mitochondria are the powerhouse" in passages[0].text
        assert await search.search(topic, "?!", 3) == []
    finally:
        await engine.dispose()


def test_search_terms_are_plain_words() -> None:
    assert search_terms('What "produces" ATP? -x NEAR(a b)') == [
        "what",
        "produces",
        "atp",
        "x",
        "near",
        "a",
        "b",
    ]
    assert search_terms("a_b c-d") == ["a", "b", "c", "d"]
    assert search_terms("") == []
    assert len(search_terms(" ".join(f"w{i}" for i in range(100)))) == 32
