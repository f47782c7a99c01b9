"""The OpenAPI document states the largest id exactly.

FastAPI's OpenAPI models hold ``maximum`` as a float, so ``2**63 - 1`` is published as
``9.223372036854776e18`` (2**63): a client validating against the document would accept ids
the server refuses. The bound is put back as the integer the server checks.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from server.api.schemas import MAX_ID

_BOUNDS = ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum")


def _exact(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUNDS and isinstance(value, float) and value == float(MAX_ID):
                node[key] = MAX_ID
            else:
                _exact(value)
    elif isinstance(node, list):
        for item in node:
            _exact(item)


def publish_exact_bounds(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        _exact(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
