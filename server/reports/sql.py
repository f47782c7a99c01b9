"""SQL expressions that SQLite and PostgreSQL spell differently, each behind one function.

Reports aggregate inside the database, so they read fields out of transcript frames (stored
as JSON text) and turn timestamps into numbers. SQLite has ``json_extract`` and
``julianday``; PostgreSQL has ``jsonb`` with ``->``/``->>`` and ``EXTRACT(EPOCH ...)``. The
constructs below compile to the right spelling for whichever engine runs the statement, so a
query is written once.

A frame is read in two steps: :func:`json_doc` turns the stored text into a document, and
:func:`json_int`, :func:`json_text` and :func:`json_flag` read one field of a document. On
PostgreSQL the document is parsed ``jsonb``, so a query that needs several fields of a frame
can parse it once (in a materialized CTE) and read its fields cheaply; SQLite reads fields
straight from the text.

JSON keys are rendered into the SQL text, never taken from requests: they must be plain
identifiers, checked here.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import BigInteger, ColumnExpressionArgument, Float, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement, literal_column
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Text

_KEY = re.compile(r"^[a-z_][a-z0-9_]*$")
# The Julian day of 1970-01-01T00:00Z: julianday() counts days from noon, 4714 BC.
_UNIX_EPOCH_JULIAN_DAY = 2440587.5


class _JsonDoc(FunctionElement[Any]):
    type = Text().with_variant(JSONB(), "postgresql")
    name = "json_doc"
    inherit_cache = True


class _JsonField(FunctionElement[Any]):
    """``(doc, key, key, ...)``: the value at that path of a document."""

    inherit_cache = True


class _JsonInt(_JsonField):
    type = BigInteger()
    name = "json_int"
    inherit_cache = True


class _JsonText(_JsonField):
    type = String()
    name = "json_text"
    inherit_cache = True


class _JsonFlag(_JsonField):
    type = Integer()
    name = "json_flag"
    inherit_cache = True


class _Epoch(FunctionElement[float]):
    type = Float()
    name = "epoch_seconds"
    inherit_cache = True


class _Floor(FunctionElement[int]):
    type = BigInteger()
    name = "floor_int"
    inherit_cache = True


def _keys(path: tuple[str, ...]) -> list[ColumnElement[Any]]:
    if not path:
        raise ValueError("a JSON path needs at least one key")
    for key in path:
        if not _KEY.match(key):
            raise ValueError(f"not a plain JSON key: {key!r}")
    return [literal_column(f"'{key}'") for key in path]


def json_doc(body: ColumnExpressionArgument[str]) -> ColumnElement[Any]:
    """The JSON text ``body`` as a document to read fields of."""
    return _JsonDoc(body)


def json_int(doc: ColumnExpressionArgument[Any], *path: str) -> ColumnElement[int]:
    """The integer at ``path`` in ``doc``; NULL when absent or null."""
    return _JsonInt(doc, *_keys(path))


def json_text(doc: ColumnExpressionArgument[Any], *path: str) -> ColumnElement[str]:
    """The string at ``path`` in ``doc``; NULL when absent."""
    return _JsonText(doc, *_keys(path))


def json_flag(doc: ColumnExpressionArgument[Any], *path: str) -> ColumnElement[int]:
    """1 when the value at ``path`` in ``doc`` is JSON ``true``, else 0 (also when absent)."""
    return _JsonFlag(doc, *_keys(path))


def epoch_seconds(when: ColumnExpressionArgument[Any]) -> ColumnElement[float]:
    """Seconds since 1970-01-01T00:00Z of a timestamp column, as a float.

    SQLite keeps millisecond precision here; whole seconds and midnights are exact on both.
    """
    return _Epoch(when)


def floor_int(value: ColumnExpressionArgument[Any]) -> ColumnElement[int]:
    """The largest integer not above ``value``, which must not be negative.

    SQLite has no ``floor`` unless built with its math functions; truncating a non-negative
    number is the same thing.
    """
    return _Floor(value)


def _parts(
    element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any
) -> tuple[str, list[str]]:
    doc, *keys = element.clauses
    # Each key is a literal_column "'name'", already checked by _keys().
    return compiler.process(doc, **kw), [str(getattr(key, "name", ""))[1:-1] for key in keys]


def _sqlite_path(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    doc, keys = _parts(element, compiler, **kw)
    return f"json_extract({doc}, '$.{'.'.join(keys)}')"


def _pg_text(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    doc, keys = _parts(element, compiler, **kw)
    steps = [f"-> '{key}'" for key in keys[:-1]] + [f"->> '{keys[-1]}'"]
    return f"({doc} {' '.join(steps)})"


@compiles(_JsonDoc, "sqlite")
def _sqlite_doc(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_JsonDoc, "postgresql")
def _pg_doc(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL refuses JSON holding the escape \u0000 (its text cannot contain NUL), and
    # members may type NUL into chat. Every \u0000 becomes \ufffd: the JSON stays valid (after
    # an escaped backslash both are plain characters) and no key or number changes.
    body = compiler.process(element.clauses, **kw)
    return f"CAST(replace({body}, '\\u0000', '\\ufffd') AS JSONB)"


@compiles(_JsonInt, "sqlite")
@compiles(_JsonText, "sqlite")
def _sqlite_value(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    # json_extract already answers SQL integers for JSON numbers and text for strings.
    return _sqlite_path(element, compiler, **kw)


@compiles(_JsonFlag, "sqlite")
def _sqlite_flag(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    # JSON true comes out of json_extract as the integer 1.
    return f"(CASE WHEN {_sqlite_path(element, compiler, **kw)} = 1 THEN 1 ELSE 0 END)"


@compiles(_JsonInt, "postgresql")
def _pg_int(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({_pg_text(element, compiler, **kw)} AS BIGINT)"


@compiles(_JsonText, "postgresql")
def _pg_value(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return _pg_text(element, compiler, **kw)


@compiles(_JsonFlag, "postgresql")
def _pg_flag(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return f"(CASE WHEN {_pg_text(element, compiler, **kw)} = 'true' THEN 1 ELSE 0 END)"


@compiles(_Epoch, "sqlite")
def _sqlite_epoch(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    when = compiler.process(element.clauses, **kw)
    return f"((julianday({when}) - {_UNIX_EPOCH_JULIAN_DAY}) * 86400.0)"


@compiles(_Epoch, "postgresql")
def _pg_epoch(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    when = compiler.process(element.clauses, **kw)
    return f"CAST(EXTRACT(EPOCH FROM {when}) AS DOUBLE PRECISION)"


@compiles(_Floor, "sqlite")
def _sqlite_floor(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


@compiles(_Floor, "postgresql")
def _pg_floor(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(FLOOR({compiler.process(element.clauses, **kw)}) AS BIGINT)"
