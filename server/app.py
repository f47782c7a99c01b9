"""The FastAPI application: routes, the room socket, and the lifespan that builds their clients."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, WebSocket
from starlette.types import Receive, Scope, Send

from protocol import PROTOCOL_VERSION
from server.api.errors import install_error_handlers
from server.api.exact_bounds import publish_exact_bounds
from server.api.middleware import AllowedMethods, BodyLimit, MetricsMiddleware
from server.api.routes import auth, connection, health, sessions, topics, users
from server.api.routes.goals import router as goals_router
from server.api.routes.materials import UPLOAD_PATH
from server.api.routes.materials import router as materials_router
from server.api.routes.progress import router as progress_router
from server.api.routes.reports import router as reports_router
from server.api.schemas import ErrorDetail
from server.config import Settings
from server.db.engine import create_engine, session_factory
from server.gc_pauses import GcPauses
from server.live.factory import build_live_state
from server.loop_lag import LoopLagMonitor
from server.materials.search import DatabaseMaterialSearch
from server.metrics import Metrics
from server.progress.projector import ConceptProjector
from server.rooms import endpoint
from server.rooms.activity import ActivityRecorder
from server.rooms.context import RoomServices
from server.rooms.gatekeeper import Gatekeeper
from server.rooms.hub import Hub
from server.rooms.joins import JoinLimiter
from server.rooms.replays import ReplayReads
from server.rooms.transcript import TranscriptStore, TranscriptWriter
from server.services import Services
from server.tutor.factory import build_fallback, build_provider
from server.tutor.service import TutorService
from server.web import web_router

log = logging.getLogger(__name__)


class StudyroomApp(FastAPI):
    """FastAPI, with room sockets handed to their handler ahead of the middleware and router.

    A room socket lives for hours, and every ASGI layer it passes through keeps a frame (and
    what it captured) alive for as long: with thousands of idle members that is most of their
    memory. The HTTP middleware passes WebSocket scopes through untouched anyway.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and (
            match := endpoint.ROOM_SOCKET_PATH.fullmatch(scope["path"])
        ):
            scope["app"] = self
            await endpoint.room_socket(WebSocket(scope, receive, send), int(match[1]))
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        engine = create_engine(settings.database_url, pgbouncer=settings.database_pgbouncer)
        db = session_factory(engine)
        store = TranscriptStore(db)
        consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        live = await build_live_state(settings, seed=store.max_seq, consumer=consumer)
        hub = Hub(settings, live, metrics)
        projector = ConceptProjector(db)
        writer = TranscriptWriter(
            live.outbox, store, settings, metrics, after_write=projector.after_write
        )
        tutor = TutorService(
            settings,
            live,
            hub,
            db,
            build_provider(settings),
            DatabaseMaterialSearch(db),
            metrics,
            owner=consumer,
            fallback=build_fallback(settings),
        )
        activity = ActivityRecorder(db, flush_s=settings.activity_flush_s)
        gatekeeper = Gatekeeper(settings, db, live.gates, activity)
        joins = JoinLimiter(settings.ws_joins_max, settings.ws_join_wait_s, metrics)
        services = Services(
            settings,
            engine,
            db,
            live,
            hub,
            metrics,
            tutor,
            activity,
            gatekeeper,
            joins,
            ReplayReads(live.log),
        )
        # Room sockets see the services through their own port; this is where that is checked.
        room_services: RoomServices = services
        app.state.services = room_services
        lag = LoopLagMonitor(
            metrics.loop_lag,
            interval_s=settings.loop_lag_interval_s,
            warn_s=settings.loop_lag_warn_s,
        )
        lag.start()
        gc_pauses = GcPauses(metrics.gc_pauses)
        gc_pauses.start()
        hub.start()
        activity.start()
        writer.start()
        projector.start()
        tutor.start()
        log.info(
            "studyroom ready (live state: %s)",
            "memory" if settings.live_state_is_memory else "redis",
        )
        try:
            # uvicorn hands this state to its socket protocols too (see rooms.uvicorn_sink).
            yield {"ws_send_buffer_bytes": settings.ws_send_buffer_bytes}
        finally:
            await tutor.close()
            await hub.close()
            await lag.close()
            gc_pauses.close()
            await activity.close()
            await writer.close()
            await projector.close()
            await live.log.close()
            await engine.dispose()

    app = StudyroomApp(
        title="studyroom",
        version=f"0.1.0 (protocol {PROTOCOL_VERSION})",
        description="Real-time study sessions: live rooms, an AI tutor, study data and reports.",
        lifespan=lifespan,
        # FastAPI answers a body it cannot decode (not UTF-8, not JSON) with 400 on any route.
        responses={400: {"model": ErrorDetail, "description": "The body could not be parsed."}},
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(AllowedMethods)
    # JSON and form bodies are small: refuse them past this instead of reading them whole.
    app.add_middleware(
        BodyLimit, max_bytes=settings.request_max_bytes, exempt=(("POST", UPLOAD_PATH),)
    )
    install_error_handlers(app)
    publish_exact_bounds(app)
    for module in (users, auth, topics, sessions, connection, health):
        app.include_router(module.router)
    app.include_router(reports_router)
    app.include_router(goals_router)
    app.include_router(progress_router)
    app.include_router(materials_router)
    app.include_router(endpoint.router)
    app.include_router(web_router(settings))
    return app
