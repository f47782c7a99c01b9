"""Running a client command: its event loop, its consoles, and turning failures into one line.

Every expected failure (an error answer from the server, an unreachable server, a bad file, a
missing login) ends the command with a single red line on stderr and a non-zero exit code.
The SDK, httpx and rich are imported only when a client command actually runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager, suppress
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from clients.cli import config

if TYPE_CHECKING:
    from rich.console import Console

    from clients.sdk import StudyroomClient

T = TypeVar("T")

LOGIN_AGAIN = (
    "your login is no longer valid (expired or revoked): log in again with `studyroom login`"
)


class CliError(Exception):
    """A failure to report to the user as is; ``exit_code`` is what the command exits with."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@cache
def stdout() -> Console:
    from rich.console import Console

    # Names, titles and messages come from users: never read them as markup or emoji codes.
    console = Console(highlight=False, markup=False, emoji=False)
    # In pipes, a line is never broken where the terminal width would have broken it.
    console.soft_wrap = not console.is_terminal
    return console


@cache
def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)


def fail(message: str, exit_code: int = 1) -> NoReturn:
    raise CliError(message, exit_code)


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, never coloured."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


# What a request field is called in a sentence; others read as their name in words.
FIELD_NAMES = {"display_name": "the display name", "current_password": "your current password"}
# Server-side patterns (server/api/schemas.py) as a reader would put them.
PATTERN_WORDS = {"username": "may hold only letters, digits and . _ -"}


def field_name(loc: list[Any] | tuple[Any, ...]) -> str:
    where = [str(p) for p in loc if p not in ("body", "query", "path") and not isinstance(p, int)]
    if not where:
        return "the request"
    last = where[-1]
    return FIELD_NAMES.get(last, "the " + last.replace("_", " "))


def problem_sentence(item: dict[str, Any]) -> str:
    """One validation problem (a FastAPI/pydantic error item) as a plain sentence."""
    loc = item.get("loc") or ()
    field = field_name(loc)
    kind = str(item.get("type", ""))
    given = item.get("ctx")
    ctx: dict[str, Any] = given if isinstance(given, dict) else {}
    last = str(loc[-1]) if loc else ""
    if kind == "missing":
        return f"{field} is missing"
    if kind == "string_too_short":
        return f"{field} must be at least {ctx.get('min_length')} characters long"
    if kind == "string_too_long":
        return f"{field} must be at most {ctx.get('max_length')} characters long"
    if kind == "string_pattern_mismatch":
        return f"{field} {PATTERN_WORDS.get(last, 'holds characters that are not allowed')}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = next(iter(ctx.values()), "?")
        word = {"greater_than_equal": "at least", "greater_than": "more than"}.get(
            kind, "at most" if kind == "less_than_equal" else "less than"
        )
        return f"{field} must be {word} {bound}"
    if kind in ("literal_error", "enum") and "expected" in ctx:
        return f"{field} must be {ctx['expected']}"
    message = str(item.get("msg", "is not valid")).removeprefix("Value error, ")
    return f"{field}: {message[:1].lower()}{message[1:]}"


def describe_detail(detail: Any) -> str:
    """A server's ``detail`` in words: validation lists become plain sentences, ``; ``-joined."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(
            problem_sentence(item) if isinstance(item, dict) and "msg" in item else str(item)
            for item in detail
        )
    return json.dumps(detail, default=str)


def explain(exc: BaseException, server: str | None = None) -> CliError | None:
    """The user-facing error for an exception, or ``None`` when it is not an expected one."""
    import httpx
    import websockets

    from clients.sdk import ApiError, RoomBusy, RoomClosed

    where = f" at {server}" if server else ""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, config.ConfigError):
        return CliError(str(exc))
    if isinstance(exc, ApiError):
        if exc.status == 401:
            return CliError(LOGIN_AGAIN)
        return CliError(f"{describe_detail(exc.detail)} (HTTP {exc.status})")
    if isinstance(exc, RoomClosed):
        return CliError(room_closed_message(exc.code, exc.reason))
    if isinstance(exc, RoomBusy):
        return CliError(f"the server{where} is busy with other joins; try again in a moment")
    if isinstance(exc, httpx.TimeoutException):
        return CliError(f"the server{where} did not answer in time")
    if isinstance(exc, httpx.HTTPError | websockets.WebSocketException):
        return CliError(f"cannot reach the server{where}: {exc or type(exc).__name__}")
    if isinstance(exc, TimeoutError):
        return CliError(f"the server{where} did not answer in time")
    if isinstance(exc, OSError):
        about = f": {exc.filename}" if exc.filename else ""
        return CliError(f"{exc.strerror}{about}" if exc.strerror else str(exc))
    return None


def room_closed_message(code: int, reason: str) -> str:
    from protocol.errors import CloseCode

    if code == CloseCode.SESSION_ENDED:
        return "the session has ended"
    if code == CloseCode.UNAUTHORIZED:
        # The SDK gives up on a room this way when the access token is refused.
        return LOGIN_AGAIN
    if code == CloseCode.FORBIDDEN:
        return "you are not a member of this session"
    return f"the room was closed ({code}{': ' + reason if reason else ''})"


def run(main: Coroutine[Any, Any, T], server: str | None = None) -> T:
    """Run one command's coroutine; expected failures exit with one red line on stderr.

    ``server`` names the server in "cannot reach" messages; by default the saved one.
    """
    try:
        return asyncio.run(main)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Exception as exc:
        if server is None:
            with suppress(config.ConfigError):
                server = config.load().server
        error = explain(exc, server)
        if error is None:
            raise
        stderr().print(f"error: {error}", style="bold red")
        raise typer.Exit(error.exit_code) from None


def signed_in() -> config.Credentials:
    """The saved login, refusing early when there is none or it has expired."""
    credentials = config.load()
    if not credentials.access_token:
        fail("not logged in: run `studyroom login` (or `studyroom register`) first")
    if credentials.expired():
        fail(LOGIN_AGAIN)
    return credentials


@asynccontextmanager
async def signed_in_client() -> AsyncIterator[StudyroomClient]:
    """An SDK client for the saved login (see :func:`signed_in`)."""
    from clients.sdk import StudyroomClient

    credentials = signed_in()
    async with StudyroomClient(credentials.server, token=credentials.access_token) as client:
        yield client
