"""Accounts: register, login, logout, whoami (also ``status``), rename, passwd, export and
delete-account."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from clients.cli import config
from clients.cli.runtime import (
    fail,
    print_json,
    run,
    signed_in,
    signed_in_client,
    stderr,
    stdout,
)

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="STUDYROOM_SERVER",
        help=f"Server address (default: the saved one, else {config.DEFAULT_SERVER}).",
        show_default=False,
    ),
]
UsernameOption = Annotated[str | None, typer.Option("--username", "-u", show_default=False)]
PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]


def server_address(url: str) -> str:
    """A server base URL as the SDK wants it, or a clear refusal."""
    address = url.strip().rstrip("/")
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(f"--server must be an http:// or https:// address, not {url!r}")
    return address


def ask_username(given: str | None, saved: str | None) -> str:
    if given is None and not sys.stdin.isatty():
        fail("stdin is not a terminal: pass --username")
    username = given if given is not None else typer.prompt("Username", default=saved)
    username = username.strip()
    if not username:
        fail("the username must not be empty")
    return username


# The server's rules (server/api/schemas.py), checked here so a typo is reported before the
# password is typed a second time, and in words rather than as a validation dump.
USERNAME_CHARS = re.compile(r"[A-Za-z0-9_.-]+")
USERNAME_LENGTH = (3, 64)
PASSWORD_LENGTH = (8, 256)
DISPLAY_NAME_LENGTH = (1, 100)


def length_problem(what: str, value: str, bounds: tuple[int, int]) -> str | None:
    shortest, longest = bounds
    if len(value) < shortest:
        return f"{what} must be at least {characters(shortest)} long (it has {len(value)})"
    if len(value) > longest:
        return f"{what} must be at most {characters(longest)} long (it has {len(value)})"
    return None


def characters(count: int) -> str:
    return "1 character" if count == 1 else f"{count} characters"


def account_problems(
    username: str | None = None, password: str | None = None, display_name: str | None = None
) -> list[str]:
    """What is wrong with the parts given, in plain sentences; empty when all is well."""
    problems = []
    if username is not None:
        problems.append(length_problem("the username", username, USERNAME_LENGTH))
        if username and not USERNAME_CHARS.fullmatch(username):
            problems.append("the username may hold only letters, digits and . _ -")
    if display_name is not None:
        problems.append(
            length_problem("the display name", display_name.strip(), DISPLAY_NAME_LENGTH)
        )
    if password is not None:
        problems.append(length_problem("the password", password, PASSWORD_LENGTH))
    return [p for p in problems if p]


def refuse(problems: list[str], what: str) -> None:
    if len(problems) == 1:
        fail(f"{what}: {problems[0]}")
    if problems:
        fail(f"{what}:\n" + "\n".join(f"  - {p}" for p in problems))


def read_password(from_stdin: bool, prompt: str = "Password") -> str:
    if from_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    elif sys.stdin.isatty():
        password = typer.prompt(prompt, hide_input=True)
    else:
        fail("stdin is not a terminal: pass the password with --password-stdin")
    if not password:
        fail("the password must not be empty")
    return password


def confirm_password(
    password: str, from_stdin: bool, outcome: str = "nothing was registered"
) -> None:
    """A second entry on a terminal; a typo there would lock the user out."""
    if from_stdin:
        return
    again = typer.prompt("Repeat the password", hide_input=True)
    if again != password:
        fail(f"the two passwords differ: {outcome}")


def until(moment: datetime) -> str:
    """``2025-01-01 09:00 UTC (in 23 h)``: when, and how far away."""
    left = (moment - datetime.now(UTC)).total_seconds()
    if left >= 2 * 86400:
        distance = f"in {left / 86400:.0f} days"
    elif left >= 3600:
        distance = f"in {left / 3600:.0f} h"
    else:
        distance = f"in {max(left, 0) / 60:.0f} min"
    return f"{moment:%Y-%m-%d %H:%M} UTC ({distance})"


async def sign_in(server: str, username: str, password: str) -> config.Credentials:
    """Log in and save the token; a wrong password is said plainly."""
    from clients.sdk import ApiError, StudyroomClient

    async with StudyroomClient(server) as client:
        try:
            token = await client.login(username, password)
        except ApiError as exc:
            if exc.status == 401:
                fail("wrong username or password")
            raise
    expiry = config.token_expiry(token)
    credentials = config.Credentials(
        server=server,
        username=username,
        access_token=token,
        expires_at=expiry.isoformat() if expiry else None,
    )
    config.save(credentials)
    return credentials


def register_commands(app: typer.Typer, panel: str) -> None:
    @app.command(rich_help_panel=panel)
    def register(
        server: ServerOption = None,
        username: UsernameOption = None,
        display_name: Annotated[
            str | None, typer.Option("--display-name", help="Name shown to others.")
        ] = None,
        password_stdin: PasswordStdinOption = False,
    ) -> None:
        """Create an account and log in with it."""
        run(_register(server, username, display_name, password_stdin), server)

    @app.command(rich_help_panel=panel)
    def login(
        server: ServerOption = None,
        username: UsernameOption = None,
        password_stdin: PasswordStdinOption = False,
    ) -> None:
        """Log in; the token is kept in the config file (see `studyroom whoami`)."""
        run(_login(server, username, password_stdin), server)

    @app.command(rich_help_panel=panel)
    def logout() -> None:
        """Log out: the server revokes the token and it is forgotten here.

        The server address and username stay, for the next `studyroom login`.
        """
        run(_logout())

    @app.command(rich_help_panel=panel)
    def rename(
        display_name: Annotated[str, typer.Argument(help="The name the others will see.")],
    ) -> None:
        """Change the name shown to the others (your username stays)."""
        run(_rename(display_name))

    @app.command(rich_help_panel=panel)
    def passwd(
        password_stdin: Annotated[
            bool,
            typer.Option(
                "--password-stdin",
                help="Read the current password, then the new one, from stdin's first two lines.",
            ),
        ] = False,
    ) -> None:
        """Change your password: the current one, then the new one.

        On a terminal the new one is typed twice; with --password-stdin, nothing is asked.
        """
        run(_passwd(password_stdin))

    @app.command(rich_help_panel=panel)
    def export(
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write it to this file.")
        ] = None,
    ) -> None:
        """Everything the server stores about you, as one JSON document."""
        run(_export(output))

    @app.command("delete-account", rich_help_panel=panel)
    def delete_account(
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm.")] = False,
        password_stdin: PasswordStdinOption = False,
    ) -> None:
        """Delete your account for good; asks for your password.

        Topics, materials, goals and progress go; your words in others' rooms stay, unnamed.
        """
        run(_delete_account(yes, password_stdin))

    @app.command(rich_help_panel=panel)
    def whoami(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Who is logged in, where, until when, and the current session."""
        run(_whoami(as_json))

    app.command("status", hidden=True, help="Same as whoami.")(whoami)


async def _register(
    server: str | None, username: str | None, display_name: str | None, password_stdin: bool
) -> None:
    from clients.sdk import ApiError, StudyroomClient

    saved = config.load()
    address = server_address(server or saved.server)
    name = ask_username(username, None)
    password = read_password(password_stdin)
    # Every problem at once, and before the password is typed a second time for nothing.
    problems = account_problems(username=name, password=password, display_name=display_name)
    refuse(problems, "cannot register")
    confirm_password(password, password_stdin)
    async with StudyroomClient(address) as client:
        try:
            user = await client.register(name, password, display_name=display_name)
        except ApiError as exc:
            if exc.status == 409:
                fail(f"the username {name!r} is taken")
            raise
    await sign_in(address, name, password)
    stdout().print(f"registered and logged in as {user.username} at {address}")


async def _login(server: str | None, username: str | None, password_stdin: bool) -> None:
    saved = config.load()
    address = server_address(server or saved.server)
    name = ask_username(username, saved.username)
    password = read_password(password_stdin)
    credentials = await sign_in(address, name, password)
    expiry = credentials.expiry()
    valid = f"; the login is valid until {until(expiry)}" if expiry else ""
    stdout().print(f"logged in as {name} at {address}{valid}")


async def _logout() -> None:
    saved = config.load()
    if not saved.access_token:
        stdout().print("not logged in")
        return
    try:
        async with signed_in_client() as client:
            await client.logout()
    except Exception as exc:
        # Forgotten here all the same; the server-side token then just runs out.
        stderr().print(f"the server did not revoke the token ({type(exc).__name__})", style="dim")
    config.save(config.Credentials(server=saved.server, username=saved.username))
    stdout().print(f"logged out {saved.username or ''}".rstrip())


async def _rename(display_name: str) -> None:
    refuse(account_problems(display_name=display_name), "cannot rename")
    async with signed_in_client() as client:
        user = await client.rename(display_name.strip())
    stdout().print(f"the others now see you as {user.display_name}")


async def _passwd(password_stdin: bool) -> None:
    from clients.sdk import ApiError

    current = read_password(password_stdin, "Current password")
    new = read_password(password_stdin, "New password")
    refuse(account_problems(password=new), "cannot change the password")
    confirm_password(new, password_stdin, "the password was not changed")
    async with signed_in_client() as client:
        try:
            await client.change_password(current, new)
        except ApiError as exc:
            if exc.status == 403:
                fail("wrong current password: the password was not changed")
            raise
    stdout().print("password changed; use it at your next login")


async def _export(output: Path | None) -> None:
    async with signed_in_client() as client:
        data = await client.export()
    if output is None:
        print_json(data)
        return
    text = json.dumps(data, indent=2, ensure_ascii=False)
    await asyncio.to_thread(output.write_text, text + "\n", "utf-8")
    stdout().print(f"saved your data to {output}")


async def _whoami(as_json: bool) -> None:
    credentials = signed_in()
    async with signed_in_client() as client:
        # Any authenticated call proves the token is still accepted.
        current = await client.current_session()
    expiry = credentials.expiry()
    if as_json:
        print_json(
            {
                "server": credentials.server,
                "username": credentials.username,
                "expires_at": credentials.expires_at,
                "current_session": current.model_dump(mode="json") if current else None,
            }
        )
        return
    out = stdout()
    out.print(f"{credentials.username} at {credentials.server}")
    if expiry:
        out.print(f"login valid until {until(expiry)}")
    if current:
        out.print(
            f"current session: {current.id} {current.title!r} (join code {current.join_code})"
        )
    else:
        out.print("no current session")


async def _delete_account(yes: bool, password_stdin: bool) -> None:
    from clients.sdk import ApiError

    credentials = signed_in()
    who = f"{credentials.username} at {credentials.server}"
    if not yes:
        if not sys.stdin.isatty() and password_stdin:
            fail("the password comes from stdin, so nothing can be confirmed there: add --yes")
        if not typer.confirm(
            f"delete the account {who} for good, with its topics, materials, goals and progress?",
            default=False,
        ):
            fail("nothing deleted")
    password = read_password(password_stdin, "Your password, to confirm")
    async with signed_in_client() as client:
        try:
            await client.delete_account(password)
        except ApiError as exc:
            if exc.status == 403:
                fail("wrong password: nothing was deleted")
            raise
    # The account is gone, and its name with it; the server address stays for a new one.
    config.save(config.Credentials(server=credentials.server))
    stdout().print(f"deleted the account {who}")
