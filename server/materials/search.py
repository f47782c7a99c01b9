"""Full-text search over a topic's passages, with each database's own engine.

PostgreSQL ranks with ``ts_rank`` over the generated ``tsvector`` (English stemming and stop
words); SQLite with FTS5's ``bm25`` (Porter stemming). On both, a higher score is a better
match, and a passage matches when it shares any searched word: questions are asked in full
sentences, and most of their words will not be in the passage that answers them.

A query is reduced to plain words before either engine sees it, so quotes, operators and
column filters in it are searched as text, never interpreted: no query is a syntax error.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.tutor.knowledge import Passage

MAX_TERMS = 32
MAX_TERM_CHARS = 64
_WORD = re.compile(r"[^\W_]+")

_POSTGRES = text(
    """
    SELECT c.id, c.material_id, m.filename, c.text, c.page,
           ts_rank(c.search_vector, q.query) AS score
    FROM material_chunks AS c
    JOIN materials AS m ON m.id = c.material_id,
    websearch_to_tsquery('english', :query) AS q(query)
    WHERE m.topic_id = :topic_id AND c.search_vector @@ q.query
    ORDER BY score DESC, c.id
    LIMIT :limit
    """
)
_SQLITE = text(
    """
    SELECT c.id, c.material_id, m.filename, c.text, c.page, -bm25(material_chunks_fts) AS score
    FROM material_chunks_fts
    JOIN material_chunks AS c ON c.id = material_chunks_fts.rowid
    JOIN materials AS m ON m.id = c.material_id
    WHERE material_chunks_fts MATCH :query AND m.topic_id = :topic_id
    ORDER BY bm25(material_chunks_fts), c.id
    LIMIT :limit
    """
)


def search_terms(query: str) -> list[str]:
    """The distinct words of ``query``, lower-cased, in order; letters and digits only."""
    terms: list[str] = []
    for word in _WORD.findall(query.lower()):
        word = word[:MAX_TERM_CHARS]
        if word not in terms:
            terms.append(word)
        if len(terms) == MAX_TERMS:
            break
    return terms


def engine_query(dialect: str, terms: list[str]) -> str:
    """``terms`` as an any-of query in the engine's syntax (each term is letters and digits)."""
    if dialect == "postgresql":
        # websearch syntax: "or" between words; the word "or" itself would be read as one.
        return " or ".join(t for t in terms if t != "or")
    # FTS5: quoted, each term is a string to match, never an operator such as NEAR or NOT.
    return " OR ".join(f'"{t}"' for t in terms)


async def search_passages(db: AsyncSession, topic_id: int, query: str, limit: int) -> list[Passage]:
    """The passages of ``topic_id``'s materials that best match ``query``, best first."""
    dialect = db.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"no full-text search for {dialect}")
    match = engine_query(dialect, search_terms(query))
    if not match:
        return []
    statement = _POSTGRES if dialect == "postgresql" else _SQLITE
    rows = await db.execute(statement, {"query": match, "topic_id": topic_id, "limit": limit})
    return [
        Passage(
            material_id=row.material_id,
            chunk_id=row.id,
            filename=row.filename,
            text=row.text,
            score=float(row.score),
            page=row.page,
        )
        for row in rows
    ]


class DatabaseMaterialSearch:
    """The tutor's ``MaterialSearch``: the same search as the REST API, one session a call."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def search(self, topic_id: int, query: str, limit: int) -> list[Passage]:
        async with self._db() as session:
            return await search_passages(session, topic_id, query, limit)
