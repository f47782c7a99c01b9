"""A TCP relay that tests cut and restore like a network fault, or use as a load balancer."""

from __future__ import annotations

import asyncio
import itertools


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
        self._pipes: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in self._targets:
            host, port = self._targets[next(self._turn)]
            try:
                return await asyncio.open_connection(host, port)
            except OSError:
                continue
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self._upstream()
        if upstream is None:
            writer.transport.abort()
            return
        up_reader, up_writer = upstream
        self._pipes.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._pipes.discard(writer)
            writer.close()

    async def sever(self) -> None:
        """Drop every connection and refuse new ones, as a host that went away."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in tuple(self._pipes):
            writer.transport.abort()

    async def restore(self) -> None:
        """Accept connections again, on the same port."""
        if self._server is None:
            await self.start()

    async def stop(self) -> None:
        await self.sever()
