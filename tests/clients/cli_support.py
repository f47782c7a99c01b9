"""Running the real ``studyroom`` console command against a test server.

The server under test runs in the test's own event loop, so the command runs as an asyncio
subprocess: a blocking ``subprocess.run`` would stop the server from answering it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clients.sdk import StudyroomClient

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
# Guards against a hung command; no assertion depends on how long anything takes.
COMMAND_TIMEOUT_S = 60.0
OUTPUT_TIMEOUT_S = 30.0


@asynccontextmanager
async def sdk_user(base_url: str, username: str) -> AsyncIterator[StudyroomClient]:
    """A new user, signed in on the SDK (the other side of what the command shows)."""
    async with StudyroomClient(base_url) as client:
        await client.register(username, PASSWORD)
        await client.login(username, PASSWORD)
        yield client


async def eventually(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool]) -> Any:
    """The first value of ``read()`` that is ``done``: reports trail the live room."""

    async def poll() -> Any:
        while not done(value := await read()):
            await asyncio.sleep(0.05)
        return value

    return await asyncio.wait_for(poll(), OUTPUT_TIMEOUT_S)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """The console command for one user, with that user's own config file."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("STUDYROOM_SERVER", "FORCE_COLOR", "TTY_COMPATIBLE")
            and not key.startswith("STUDYROOM_TEST")
        }
        # Wide enough that table cells are not wrapped in the middle of a value.
        self.env.update(STUDYROOM_CONFIG=str(config), COLUMNS="200", NO_COLOR="1")

    async def _spawn(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            cwd=REPO,
        )

    async def run(self, *args: str, stdin: str = "") -> Result:
        process = await self._spawn(*args)
        out, err = await asyncio.wait_for(process.communicate(stdin.encode()), COMMAND_TIMEOUT_S)
        assert process.returncode is not None
        result = Result(process.returncode, out.decode(), err.decode())
        # Whatever went wrong, it went wrong readably.
        assert "Traceback" not in result.err, result.err
        return result

    async def ok(self, *args: str, stdin: str = "") -> Result:
        result = await self.run(*args, stdin=stdin)
        assert result.code == 0, (args, result)
        return result

    async def login(self, base_url: str, username: str, password: str = PASSWORD) -> None:
        await self.ok(
            "login",
            "--server",
            base_url,
            "--username",
            username,
            "--password-stdin",
            stdin=password + "\n",
        )

    async def start(self, *args: str) -> Interactive:
        return Interactive(await self._spawn(*args))


@dataclass
class Interactive:
    """A running command fed line by line, its output collected as it is written."""

    process: asyncio.subprocess.Process
    out: str = ""
    err: str = ""
    _grew: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._readers = [
            asyncio.create_task(self._collect(self.process.stdout, "out")),
            asyncio.create_task(self._collect(self.process.stderr, "err")),
        ]

    async def _collect(self, stream: asyncio.StreamReader | None, name: str) -> None:
        assert stream is not None
        while chunk := await stream.read(4096):
            setattr(self, name, getattr(self, name) + chunk.decode(errors="replace"))
            self._grew.set()
        self._grew.set()

    async def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def shows(self, text: str, after: int = 0) -> int:
        """Wait until stdout holds ``text`` past position ``after``; where it ends."""

        async def appear() -> int:
            while (at := self.out.find(text, after)) < 0:
                if self._done():
                    raise AssertionError(f"exited before showing {text!r}:\n{self.out}{self.err}")
                self._grew.clear()
                await self._grew.wait()
            return at + len(text)

        try:
            return await asyncio.wait_for(appear(), OUTPUT_TIMEOUT_S)
        except TimeoutError:
            raise AssertionError(f"never showed {text!r}:\n{self.out}\n{self.err}") from None

    def _done(self) -> bool:
        return all(reader.done() for reader in self._readers)

    async def finish(self) -> int:
        """Wait for the exit; the exit code."""
        code = await asyncio.wait_for(self.process.wait(), COMMAND_TIMEOUT_S)
        await asyncio.gather(*self._readers)
        return code

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        for reader in self._readers:
            reader.cancel()
