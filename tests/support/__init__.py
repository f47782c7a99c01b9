"""The room test kit, shared by the tests and the benchmarks.

It drives a server the way its clients do: the SDK (``clients.sdk.StudyroomClient``) for every
REST step, and raw ``websockets`` connections for the room, so a test can also send what no
client would (malformed frames, binary frames, a socket that never reads) and see the close
code the server sent.

- :class:`RoomKit`: people, topics, sessions, tokens, room sockets, the transcript, goals.
- :class:`Person`: a registered, logged-in user.
- :class:`Conn`: one member's room socket and every frame it received.
- :class:`RoomPool`: many rooms over a small pool of users, for the benchmarks.
- :func:`eventually`: wait for state that follows the room shortly after, not at once.

The pytest fixtures (``kit``, ``make_kit``, ``spawn``) are in :mod:`tests.support.fixtures`;
a conftest imports the ones it needs.
"""

from tests.support.conn import Conn
from tests.support.kit import RoomKit
from tests.support.people import Person
from tests.support.pool import RoomPool
from tests.support.waiting import eventually

__all__ = ["Conn", "Person", "RoomKit", "RoomPool", "eventually"]
