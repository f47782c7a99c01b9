"""5% of the members stop reading: each is closed with 4008, the server's memory stays bounded,
and everyone else keeps receiving every event.

How the others' latency holds up under this is measured by the benchmarks (bench/), not
asserted here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import websockets

from tests.support import Conn

ROOMS = 4
MEMBERS = 20  # per room; one of them stops reading: 5% of all sockets
TALKERS = 4  # per room, each near the per-socket rate limit
CLOSED_WITHIN_S = 10.0
PAYLOAD = "x" * 3000


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def small_socket(port: int) -> socket.socket:
    """A connected socket with a small receive buffer, like a phone on a bad network.

    Without it the kernel would take megabytes off the server before anyone noticed.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def _closed_slow(kit: Any) -> int:
    """Sockets the server closed with 4008 so far, from its Prometheus counters."""
    text = (await kit.http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith('studyroom_ws_closed_total{code="4008"}'):
            return int(float(line.split()[-1]))
    return 0


def _holds(conn: Conn, text: str) -> bool:
    return any(e.get("text") == text for e in reversed(conn.events))


async def _until(done: Any, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not done():
        assert asyncio.get_running_loop().time() < deadline, "readers did not catch up"
        await asyncio.sleep(0.1)


async def _drain(conn: Conn) -> None:
    with contextlib.suppress(websockets.ConnectionClosed, asyncio.CancelledError):
        while True:
            await conn.recv(timeout=3600)


async def _talk(conn: Conn, tag: str, stop: asyncio.Event) -> list[str]:
    said: list[str] = []
    while not stop.is_set():
        text = f"{tag}-{len(said)} {PAYLOAD}"
        await conn.send({"type": "chat", "text": text})
        said.append(text)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.22)
    return said


async def test_readers_that_stop_are_closed_and_the_rest_keep_everything(
    services_backend: Any, spawn: Any, make_kit: Any
) -> None:
    proc = spawn(services_backend.env())
    kit = make_kit(proc.base_url)
    people = [await kit.person(f"p{i}") for i in range(MEMBERS)]
    rooms: list[tuple[dict[str, Any], list[Conn]]] = []
    slow: list[Any] = []
    for _ in range(ROOMS):
        session = await kit.session(people[0], *people[1:])
        readers = [await kit.connect(person, session) for person in people[1:]]
        rooms.append((session, readers))
        token = (await kit.details(people[0], session))["participant_token"]
        # This member reads nothing from now on.
        slow.append(
            await kit.raw(kit.url(session["id"], token), sock=small_socket(proc.port), max_queue=1)
        )
    assert len(slow) * 20 == ROOMS * MEMBERS  # 5%
    drains = [asyncio.create_task(_drain(c)) for _, readers in rooms for c in readers]
    baseline = rss_bytes(proc.process.pid)

    stop = asyncio.Event()
    talkers = [
        [
            asyncio.create_task(_talk(conn, f"r{r}t{t}", stop))
            for t, conn in enumerate(readers[:TALKERS])
        ]
        for r, (_, readers) in enumerate(rooms)
    ]
    loop = asyncio.get_running_loop()
    started = loop.time()

    # A client that stopped reading cannot see its own close frame: watch the server's count.
    closes: list[float] = []
    while len(closes) < len(slow) and loop.time() - started < CLOSED_WITHIN_S * 3:
        closed = await _closed_slow(kit)
        closes += [loop.time() - started] * (closed - len(closes))
        await asyncio.sleep(0.2)
    peak = rss_bytes(proc.process.pid)
    stop.set()
    said = [[line for task in tasks for line in await task] for tasks in talkers]

    # Every reader of a room gets every chat of its room, in one gap-free order.
    for (_, readers), room_said in zip(rooms, said, strict=True):
        for conn in readers:
            # The drain tasks keep reading; wait until each reader holds the room's last chat.
            await _until(lambda c=conn, last=room_said[-1]: _holds(c, last))
        for conn in readers:
            seqs = [e["seq"] for e in conn.events]
            assert seqs == list(range(seqs[0], seqs[-1] + 1))
            got = sorted(e["text"] for e in conn.events if e["type"] == "chat")
            assert got == sorted(room_said)
            assert conn.ws.protocol.close_rcvd is None
    for task in drains:
        task.cancel()
    await asyncio.gather(*drains, return_exceptions=True)

    assert len(closes) == len(slow), f"{len(closes)} of {len(slow)} slow sockets closed with 4008"
    assert await _closed_slow(kit) == len(slow)  # the readers were not taken for slow ones
    # Under this load the buffers fill in a few seconds, then a frame waits send_timeout_s
    # (5 s). The bound is doubled for a loaded CI machine; the run prints the real times.
    print("slow sockets closed after", [round(at, 1) for at in closes], "s")
    assert max(closes) < CLOSED_WITHIN_S * 2, closes
    # What the slow sockets did not read is bounded by send_queue_max frames each: the
    # server does not keep it all.
    assert peak - baseline < 64 * 1024 * 1024, (baseline, peak)
