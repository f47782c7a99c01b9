"""``GET /ws/sessions/{session_id}``: the room socket's handshake."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import APIRouter, WebSocket

from protocol.errors import CloseCode
from server.live.ports import LiveStateUnavailable
from server.rooms.access import Refused, origin_allowed
from server.rooms.connection import RoomConnection
from server.rooms.context import RoomServices
from server.rooms.joins import Busy

router = APIRouter()

# The route's paths with an id the database can hold; the app hands these to ``room_socket``
# ahead of its middleware and router (see server.app.StudyroomApp). Others take the router.
ROOM_SOCKET_PATH = re.compile(r"/ws/sessions/([0-9]{1,18})")


@router.websocket("/ws/sessions/{session_id}")
async def room_socket(websocket: WebSocket, session_id: int) -> None:
    services: RoomServices = websocket.app.state.services
    if not origin_allowed(websocket, services.settings):
        # Closing before accepting refuses the handshake with HTTP 403.
        await websocket.close(CloseCode.FORBIDDEN)
        return
    await websocket.accept()
    # A join holds a slot until its welcome and replay are handed to the writer (see joins).
    slot = await services.joins.acquire()
    if isinstance(slot, Busy):
        services.metrics.ws_closed.labels(str(int(CloseCode.TRY_AGAIN_LATER))).inc()
        await websocket.close(CloseCode.TRY_AGAIN_LATER, slot.reason)
        return
    try:
        await _join(websocket, session_id, services, slot.release)
    finally:
        slot.release()


async def _join(
    websocket: WebSocket, session_id: int, services: RoomServices, entered: Callable[[], None]
) -> None:
    params = websocket.query_params
    last_seq: int | None = None
    raw_last = params.get("last_seq")
    if raw_last is not None:
        if not raw_last.isdigit() or len(raw_last) > 18:
            await websocket.close(CloseCode.POLICY_VIOLATION, "last_seq must be an integer >= 0")
            return
        last_seq = int(raw_last)
    epoch = params.get("epoch") or None
    try:
        admission = await services.gatekeeper.admit(session_id, params.get("token"))
    except Refused as refused:
        services.metrics.ws_closed.labels(str(int(refused.code))).inc()
        await websocket.close(refused.code, refused.reason)
        return
    except LiveStateUnavailable:
        services.metrics.ws_closed.labels(str(int(CloseCode.TRY_AGAIN_LATER))).inc()
        await websocket.close(CloseCode.TRY_AGAIN_LATER, "live state is unavailable")
        return
    connection = RoomConnection(websocket, services, session_id, admission.user, admission.topic)
    await connection.run(last_seq, epoch, entered=entered)
