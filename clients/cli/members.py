"""``studyroom members``: who is in a session and with which role; hosts manage them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import typer

from clients.cli.display import JsonOption, when
from clients.cli.runtime import fail, print_json, run, signed_in_client, stdout
from clients.cli.sessions import SessionArgument, SessionOption, host_refusal, session_or_current

if TYPE_CHECKING:
    from clients.sdk import StudyroomClient
    from clients.sdk.models import Member

members_app = typer.Typer(
    help=(
        "A session's members and their roles. Hosts may remove members and make others hosts "
        "with `members role USER host` (or `member` to take it back)."
    )
)

UserArgument = Annotated[str, typer.Argument(help="The member's username or id.")]
Role = Literal["host", "member"]


@members_app.command("list")
def list_members(session: SessionArgument = None, as_json: JsonOption = False) -> None:
    """A session's members with their roles (default: your current session)."""
    run(_list(session, as_json))


@members_app.command("remove")
def remove_member(user: UserArgument, session: SessionOption = None) -> None:
    """Hosts: remove a member, who may not join again (their room closes at once)."""
    run(_remove(user, session))


@members_app.command("role")
def set_role(
    user: UserArgument,
    role: Annotated[Role, typer.Argument(help="`host` to make them a host, `member` to undo.")],
    session: SessionOption = None,
) -> None:
    """Hosts: make a member a host (`host`) or a host a plain member again (`member`).

    Hosts may change the session, rotate its join code and manage members; the session's
    creator always stays a host.
    """
    run(_set_role(user, role, session))


def find_member(members: list[Member], wanted: str, session_id: int) -> Member:
    """The member ``wanted`` names: a username (exact, else unique case-insensitive match)
    or, failing that, an id."""
    text = wanted.strip()
    exact = [m for m in members if m.username == text]
    loose = [m for m in members if m.username.casefold() == text.casefold()]
    by_id = [m for m in members if text.isascii() and text.isdigit() and m.id == int(text)]
    for found in (exact, loose if len(loose) == 1 else [], by_id):
        if found:
            return found[0]
    names = ", ".join(m.username for m in members) or "nobody"
    fail(f"{text!r} is not a member of session {session_id} (members: {names})")


def role_label(member: Member) -> str:
    return "host" if member.role == "host" else "member"


async def _me_and_members(
    client: StudyroomClient, session_id: int
) -> tuple[Member | None, list[Member]]:
    me = await client.me()
    members = await client.members(session_id)
    return next((m for m in members if m.id == me.id), None), members


def refuse_unless_host(
    me: Member | None, members: list[Member], session_id: int, what: str
) -> None:
    """Say who can do it before asking the server, which would only answer 403."""
    if me is not None and me.role == "host":
        return
    hosts = ", ".join(m.username for m in members if m.role == "host") or "none"
    fail(
        f"only the hosts of session {session_id} can {what}, and you are not one "
        f"(hosts: {hosts}); a host can make you one with "
        f"`studyroom members role {me.username if me else 'YOU'} host`"
    )


async def _list(session_id: int | None, as_json: bool) -> None:
    from rich.table import Table

    async with signed_in_client() as client:
        session_id = await session_or_current(client, session_id)
        members = await client.members(session_id)
    if as_json:
        print_json([m.model_dump(mode="json") for m in members])
        return
    table = Table("id", "username", "name", "role", "joined", title=f"Session {session_id}")
    for member in members:
        table.add_row(
            str(member.id),
            member.username,
            member.display_name,
            role_label(member),
            when(member.joined_at),
        )
    stdout().print(table)


async def _remove(wanted: str, session_id: int | None) -> None:
    from clients.sdk import ApiError

    async with signed_in_client() as client:
        session_id = await session_or_current(client, session_id)
        me, members = await _me_and_members(client, session_id)
        member = find_member(members, wanted, session_id)
        if me is not None and member.id == me.id:
            fail(f"to leave session {session_id} yourself, use `studyroom sessions leave`")
        refuse_unless_host(me, members, session_id, "remove members")
        try:
            await client.remove_member(session_id, member.id)
        except ApiError as exc:
            raise host_refusal(exc, session_id, "remove members") from None
    stdout().print(
        f"removed {member.username} from session {session_id}; they cannot join it again"
    )


async def _set_role(wanted: str, role: Role, session_id: int | None) -> None:
    from clients.sdk import ApiError

    async with signed_in_client() as client:
        session_id = await session_or_current(client, session_id)
        me, members = await _me_and_members(client, session_id)
        member = find_member(members, wanted, session_id)
        refuse_unless_host(me, members, session_id, "change roles")
        try:
            changed = await client.set_role(session_id, member.id, role)
        except ApiError as exc:
            raise host_refusal(exc, session_id, "change roles") from None
    article = "a host" if role_label(changed) == "host" else "a member"
    stdout().print(f"{changed.username} is now {article} of session {session_id}")
