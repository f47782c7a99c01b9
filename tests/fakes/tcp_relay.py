"""A TCP relay that tests cut and restore like a network fault, or use as a load balancer.

Cutting aborts every relayed connection and resets new ones at once (accepted, then reset),
like a network that went away; restoring lets connections through again on the same port, so
a page loaded through the relay keeps its origin. Stalling keeps every connection open but
passes no byte until :meth:`Relay.flow`, like a peer that hangs without failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

CHUNK = 64 * 1024


class Relay:
    """Listens on 127.0.0.1 and pipes each connection to one of ``targets``.

    With several targets it balances like a reverse proxy: connections go round-robin, and a
    target that refuses is skipped, so clients reach the processes still alive.
    """

    def __init__(self, *targets: tuple[str, int]) -> None:
        if not targets:
            raise ValueError("a relay needs at least one target")
        self._targets = targets
        self._turn = itertools.cycle(range(len(targets)))
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.cut_off = False
        self.port = 0
        self._flowing = asyncio.Event()
        self._flowing.set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        """Drop every open connection and reset new ones until :meth:`restore`."""
        self.cut_off = True
        for writer in tuple(self._writers):
            writer.transport.abort()

    def restore(self) -> None:
        self.cut_off = False

    def stall(self) -> None:
        """Hold every byte, both ways, on open and new connections until :meth:`flow`."""
        self._flowing.clear()

    def flow(self) -> None:
        """Pass on what a stall held, and everything after it."""
        self._flowing.set()

    async def stop(self) -> None:
        self.flow()
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in self._targets:
            host, port = self._targets[next(self._turn)]
            try:
                return await asyncio.open_connection(host, port)
            except OSError:
                continue
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = None if self.cut_off else await self._upstream()
        if upstream is None:
            writer.transport.abort()
            return
        up_reader, up_writer = upstream
        self._writers.update((writer, up_writer))
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        self._tasks.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._tasks.difference_update(pipes)
            self._writers.difference_update((writer, up_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(CHUNK):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        # One side finished or failed: finish the other, flushing what it still holds.
        writer.close()
