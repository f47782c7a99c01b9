"""Operations: liveness, readiness, Prometheus metrics, and the room protocol's description."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from protocol.errors import ErrorCode
from server.api.deps import ServicesDep
from server.api.errors import error_body
from server.api.schemas import HealthStatus, NotReady, ReadyStatus
from server.services import Services

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

# Load balancers give up on a probe after a few seconds; answer before they do.
READY_TIMEOUT_S = 2.0


@router.get("/healthz", response_model=HealthStatus)
async def healthz() -> HealthStatus:
    """The process is up and serving. Checks no dependency."""
    return HealthStatus()


async def _ping_database(services: Services) -> None:
    async with services.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _probe(check: Awaitable[None]) -> str:
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            await check
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        # Any failure means "not ready"; the probe itself must never fail.
        log.warning("readiness check failed: %r", exc)
        return f"unavailable ({type(exc).__name__})"
    return "ok"


@router.get(
    "/readyz",
    response_model=ReadyStatus,
    responses={503: {"model": NotReady, "description": "A dependency is unreachable."}},
)
async def readyz(services: ServicesDep) -> ReadyStatus | JSONResponse:
    """Ready to serve: the database and the live state both answer."""
    database, live_state = await asyncio.gather(
        _probe(_ping_database(services)), _probe(services.live.log.ping())
    )
    if database == live_state == "ok":
        return ReadyStatus()
    detail = {"database": database, "live_state": live_state}
    body = error_body(detail, ErrorCode.UNAVAILABLE)
    return JSONResponse(body, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text."}},
)
async def metrics(services: ServicesDep) -> Response:
    """This process's metrics in the Prometheus text format."""
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/asyncapi.json", response_model=dict[str, Any])
async def asyncapi() -> dict[str, Any]:
    """The room WebSocket protocol as an AsyncAPI 3 document."""
    # Imported on first use: the document is built from the protocol models on demand.
    from server.asyncapi import build_asyncapi

    return build_asyncapi()
