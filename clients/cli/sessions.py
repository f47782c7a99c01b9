"""``studyroom sessions``: create one on a topic, join by code, see the current one, change,
leave or end one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from clients.cli.display import JsonOption, when
from clients.cli.runtime import (
    CliError,
    describe_detail,
    fail,
    print_json,
    run,
    signed_in_client,
    stdout,
)

if TYPE_CHECKING:
    from clients.sdk import ApiError, StudyroomClient
    from clients.sdk.models import Session

sessions_app = typer.Typer(
    help="Study sessions: create, join, list, current, show, set, rotate-code, leave, end."
)

SessionIdArgument = Annotated[int, typer.Argument(help="The session's id.", min=1)]
SessionArgument = Annotated[
    int | None,
    typer.Argument(help="The session's id (default: your current session).", min=1),
]
SessionOption = Annotated[
    int | None,
    typer.Option(
        "--session", "-s", help="The session's id (default: your current session).", min=1
    ),
]
TutorMode = Literal["socratic", "explain", "off"]


async def session_or_current(client: StudyroomClient, session_id: int | None) -> int:
    """``session_id``, or the caller's current session when it is ``None``."""
    if session_id is not None:
        return session_id
    current = await client.current_session()
    if current is None:
        fail("no current session: pass the session's id, or create or join a session first")
    return current.id


def host_refusal(exc: ApiError, session_id: int, what: str) -> Exception:
    """A 403 on a hosts-only call in words that say what was refused; other errors as they are."""
    if exc.status == 403:
        return CliError(f"cannot {what} in session {session_id}: {describe_detail(exc.detail)}")
    return exc


@sessions_app.command("create")
def create_session(
    topic: Annotated[int, typer.Option("--topic", "-t", help="The topic's id.", min=1)],
    title: Annotated[str | None, typer.Option("--title", help="Default: the topic's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Start a session on a topic; share the join code with the others."""
    run(_create(topic, title, as_json))


@sessions_app.command("join")
def join_session(
    code: Annotated[str, typer.Argument(help="The join code someone shared with you.")],
    as_json: JsonOption = False,
) -> None:
    """Join a session by its code."""
    run(_join(code, as_json))


@sessions_app.command("current")
def current_session(as_json: JsonOption = False) -> None:
    """Your most recently active session that has not ended (exit code 1 if none)."""
    run(_current(as_json))


@sessions_app.command("list")
def list_sessions(
    status: Annotated[
        str | None, typer.Option("--status", help="Only `active` or `ended` sessions.")
    ] = None,
    topic: Annotated[
        int | None, typer.Option("--topic", "-t", help="Only this topic's.", min=1)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many.", min=1)] = 20,
    as_json: JsonOption = False,
) -> None:
    """Your sessions, newest first: reopen one's report or room by its id."""
    run(_list(status, topic, limit, as_json))


@sessions_app.command("show")
def show_session(session_id: SessionIdArgument, as_json: JsonOption = False) -> None:
    """One session with its topic and members."""
    run(_show(session_id, as_json))


@sessions_app.command("set")
def set_session(
    session: SessionArgument = None,
    title: Annotated[str | None, typer.Option("--title", help="A new title.")] = None,
    tutor: Annotated[
        TutorMode | None,
        typer.Option(
            "--tutor",
            help="How the tutor teaches: socratic (asks back), explain, or off (no questions).",
        ),
    ] = None,
    locked: Annotated[
        bool | None,
        typer.Option(
            "--lock/--unlock", help="Refuse new joins, or take them again.", show_default=False
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Hosts: change a session's title, tutor mode or lock (default: your current session)."""
    run(_set(session, title, tutor, locked, as_json))


@sessions_app.command("rotate-code")
def rotate_code(session: SessionArgument = None, as_json: JsonOption = False) -> None:
    """Hosts: give a session a new join code; the old one stops working at once."""
    run(_rotate(session, as_json))


@sessions_app.command("leave")
def leave_session(session: SessionArgument = None) -> None:
    """Leave a session (default: your current one); you may rejoin with its code."""
    run(_leave(session))


@sessions_app.command("end")
def end_session(session_id: SessionIdArgument, as_json: JsonOption = False) -> None:
    """End a session you own; everyone in its room is told."""
    run(_end(session_id, as_json))


def show_detail(session: Session) -> None:
    from rich.table import Table

    extra: dict[str, Any] = session.model_extra or {}
    topic = extra.get("topic") or {}
    members = extra.get("members") or []
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("session", f"{session.id}: {session.title}")
    table.add_row("status", session.status)
    table.add_row(
        "join code", session.join_code + ("  (locked: no new joins)" if session.locked else "")
    )
    table.add_row("tutor", session.tutor_mode)
    if topic:
        table.add_row("topic", f"{topic.get('id')}: {topic.get('title')}")
    table.add_row("created", when(session.created_at))
    if members:
        names = ", ".join(
            str(m.get("display_name") or m.get("username"))
            + (" (host)" if m.get("role") == "host" else "")
            for m in members
        )
        table.add_row("members", names)
    stdout().print(table)


def show_join_code(session: Session) -> None:
    from rich.panel import Panel
    from rich.text import Text

    body = Text.assemble(
        ("join code  ", "dim"),
        (session.join_code, "bold reverse"),
        "\n",
        ("others join with  ", "dim"),
        f"studyroom sessions join {session.join_code}",
        "\n",
        ("enter the room with  ", "dim"),
        f"studyroom chat {session.id}",
    )
    title = f"session {session.id}: {session.title}"
    stdout().print(Panel(body, title=title, title_align="left", expand=False))


async def _list(status: str | None, topic_id: int | None, limit: int, as_json: bool) -> None:
    from rich.table import Table

    if status not in (None, "active", "ended"):
        fail("--status is `active` or `ended`")
    async with signed_in_client() as client:
        found = await client.sessions(
            status="ended" if status == "ended" else "active" if status else None,
            topic_id=topic_id,
            limit=limit,
        )
    if as_json:
        print_json([s.model_dump(mode="json") for s in found])
        return
    if not found:
        stdout().print("no sessions: start one with `studyroom sessions create --topic ID`")
        return
    table = Table("id", "title", "status", "topic", "created", title="Your sessions")
    for session in found:
        topic = str(session.topic_id) if session.topic_id is not None else "—"
        table.add_row(
            str(session.id), session.title, session.status, topic, when(session.created_at)
        )
    stdout().print(table)
    stdout().print("see one with `studyroom report ID` or `studyroom chat ID`", style="dim")


async def _create(topic_id: int, title: str | None, as_json: bool) -> None:
    if title is not None and not title.strip():
        fail("the title must not be blank")
    async with signed_in_client() as client:
        session = await client.create_session(topic_id, title.strip() if title else None)
    if as_json:
        print_json(session.model_dump(mode="json"))
    else:
        show_join_code(session)


async def _join(code: str, as_json: bool) -> None:
    if not code.strip():
        fail("the join code must not be blank")
    async with signed_in_client() as client:
        session = await client.join(code.strip())
    if as_json:
        print_json(session.model_dump(mode="json"))
        return
    stdout().print(f"joined session {session.id}: {session.title}")
    stdout().print(f"enter the room with: studyroom chat {session.id}", style="dim")


async def _current(as_json: bool) -> None:
    async with signed_in_client() as client:
        current = await client.current_session()
        detail = await client.session(current.id) if current else None
    if detail is None:
        if as_json:
            print_json(None)
        else:
            stdout().print("no current session: create one or join one with a code")
        raise typer.Exit(1)
    if as_json:
        print_json(detail.model_dump(mode="json"))
    else:
        show_detail(detail)


async def _show(session_id: int, as_json: bool) -> None:
    async with signed_in_client() as client:
        detail = await client.session(session_id)
    if as_json:
        print_json(detail.model_dump(mode="json"))
    else:
        show_detail(detail)


async def _end(session_id: int, as_json: bool) -> None:
    async with signed_in_client() as client:
        session = await client.end_session(session_id)
    if as_json:
        print_json(session.model_dump(mode="json"))
    else:
        stdout().print(f"ended session {session.id}: {session.title}")


async def _set(
    session_id: int | None,
    title: str | None,
    tutor: TutorMode | None,
    locked: bool | None,
    as_json: bool,
) -> None:
    from clients.sdk import ApiError

    if title is None and tutor is None and locked is None:
        fail("give --title, --tutor, --lock or --unlock")
    if title is not None and not title.strip():
        fail("the title must not be blank")
    async with signed_in_client() as client:
        session_id = await session_or_current(client, session_id)
        try:
            session = await client.update_session(
                session_id,
                title=title.strip() if title else None,
                tutor_mode=tutor,
                locked=locked,
            )
        except ApiError as exc:
            raise host_refusal(exc, session_id, "change the session") from None
    if as_json:
        print_json(session.model_dump(mode="json"))
        return
    lock = "locked: no new joins" if session.locked else "open to joins by code"
    stdout().print(f"session {session.id}: {session.title} · tutor {session.tutor_mode} · {lock}")


async def _rotate(session_id: int | None, as_json: bool) -> None:
    from clients.sdk import ApiError

    async with signed_in_client() as client:
        session_id = await session_or_current(client, session_id)
        try:
            code = await client.rotate_join_code(session_id)
        except ApiError as exc:
            raise host_refusal(exc, session_id, "rotate the join code") from None
    if as_json:
        print_json({"session_id": session_id, "join_code": code})
        return
    stdout().print(f"new join code for session {session_id}: {code}")
    stdout().print(
        f"the old code no longer works; others join with `studyroom sessions join {code}`",
        style="dim",
    )


async def _leave(session_id: int | None) -> None:
    from clients.sdk import ApiError

    async with signed_in_client() as client:
        session_id = await session_or_current(client, session_id)
        try:
            await client.leave(session_id)
        except ApiError as exc:
            if exc.status == 403:
                fail(f"cannot leave session {session_id}: {describe_detail(exc.detail)}")
            raise
    stdout().print(f"left session {session_id}; its join code lets you back in")
