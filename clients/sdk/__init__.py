"""The studyroom Python SDK: REST set-up and live rooms that never lose an event.

async with StudyroomClient("http://127.0.0.1:8000") as client:
    await client.login("ada", "correct horse")
    session = await client.create_session(topic_id)
    async with client.room(session.id) as room:
        await room.chat("hello")
        async for delivery in room:
            print(delivery.seq, delivery.event)
"""

from clients.sdk.errors import ApiError, RoomBusy, RoomClosed
from clients.sdk.rest import StudyroomClient
from clients.sdk.room import Delivery, Room

__all__ = ["ApiError", "Delivery", "Room", "RoomBusy", "RoomClosed", "StudyroomClient"]
