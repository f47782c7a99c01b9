"""``studyroom chat``: the room in a terminal, typed lines in, room events out.

Two tasks run side by side: one prints what the room delivers, one turns typed lines into
frames. The room (the SDK's) reconnects by itself; this only says so.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rich.text import Text

from clients.cli.chat import commands
from clients.cli.chat.printer import Printer
from clients.cli.chat.screen import ConsoleTerminal, Screen, console_renderer
from clients.cli.chat.state import RoomState
from clients.cli.chat.stdin import KeyboardLines, Lines, StdinLines
from clients.cli.chat.views import LiveView, PlainView, View
from clients.cli.runtime import fail, room_closed_message, signed_in_client, stdout
from clients.sdk import Delivery, Room, RoomClosed
from protocol.errors import CloseCode, retry_after_ms
from protocol.sessions import SessionStatus

if TYPE_CHECKING:
    from clients.sdk import StudyroomClient
    from clients.sdk.models import Session

# How often to look whether the room lost its connection (the SDK keeps a counter).
CONNECTION_CHECK_S = 0.25
# Room events loaded from the transcript to find the last messages before joining.
HISTORY_SCAN_FACTOR = 4
# After my quiz answer, how long the server may take to record it before its schedule is asked.
REVIEW_SETTLE_S = 1.5
PROMPT = "> "
HISTORY_TYPES = frozenset({"chat", "ask", "agent.done", "agent.error", "quiz", "quiz.result"})


def reconnecting_notice(last_close: tuple[int, str] | None) -> str:
    """What the terminal says when the room lost its connection and is getting it back."""
    if last_close is not None and retry_after_ms(*last_close) is not None:
        return "the server is busy; reconnecting shortly…"
    return "connection lost; reconnecting…"


class Left(Exception):
    """The room is over for this terminal; ``message`` says why, ``exit_code`` how."""

    def __init__(self, message: str, exit_code: int = 0) -> None:
        super().__init__(message)
        self.exit_code = exit_code


async def chat(session_id: int | None, plain: bool, history: int) -> int:
    """Join the room and stay until /quit, end of input or the session ends; the exit code."""
    async with signed_in_client() as client:
        if session_id is None:
            current = await client.current_session()
            if current is None:
                fail("no current session: pass a SESSION_ID, or create or join a session first")
            session_id = current.id
        session = await client.session(session_id)
        if session.status != SessionStatus.ACTIVE:
            fail(f"session {session.id} has ended")
        console = stdout()
        view: View
        typing_here = False
        if plain or not console.is_terminal:
            view = PlainView(console)
        else:
            typing_here = sys.stdin.isatty()
            screen = Screen(
                ConsoleTerminal(console),
                console_renderer(console),
                prompt=PROMPT if typing_here else None,
            )
            view = LiveView(console, screen)

        def lines() -> Lines:
            if not typing_here:
                return StdinLines()

            def entered(line: str) -> None:
                # What was typed stays in the scrollback, as a terminal's own echo would.
                screen.print(Text(f"{PROMPT}{line}", style="dim"))

            try:
                return KeyboardLines(screen.set_typed, entered)
            except (ImportError, OSError):
                # No terminal control here (no termios, or not a real terminal after all).
                screen.prompt = None
                return StdinLines()

        room: Room = client.room(session_id)
        await room.open()
        try:
            return await TerminalRoom(client, room, session, view).run(history, lines)
        finally:
            await room.close()
            view.close()


class TerminalRoom:
    def __init__(self, client: StudyroomClient, room: Room, session: Session, view: View) -> None:
        self.client = client
        self.room = room
        self.session = session
        self.state = RoomState()
        self.printer = Printer(view, self.state)
        # Set after every delivery, for the end of input to wait on the answers still due.
        self._delivered = asyncio.Event()
        self._reviewing: asyncio.Task[None] | None = None

    async def run(self, history: int, lines: Callable[[], Lines] = StdinLines) -> int:
        """Until the room is left; ``lines`` makes the source of typed lines (stdin's)."""
        self._header()
        if history:
            await self._history(history)
        typed = lines()
        receiving = asyncio.create_task(self._receive())
        reading = asyncio.create_task(self._read_input(typed))
        watching = asyncio.create_task(self._watch_connection())
        self._review_soon(0.0)
        try:
            done, _ = await asyncio.wait({receiving, reading}, return_when=asyncio.FIRST_COMPLETED)
            finished = done.pop()
            try:
                finished.result()
            except Left as left:
                if str(left):
                    self.printer.plain(
                        str(left), style="dim" if left.exit_code == 0 else "bold red"
                    )
                return left.exit_code
            raise AssertionError("the room's tasks end only by raising Left")
        finally:
            tasks = [receiving, reading, watching]
            if self._reviewing is not None:
                tasks.append(self._reviewing)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            typed.close()

    def _header(self) -> None:
        extra = self.session.model_extra or {}
        topic = extra.get("topic") or {}
        about = f" · topic: {topic.get('title')}" if topic else ""
        self.printer.plain(
            f"session {self.session.id}: {self.session.title}{about}"
            f" · join code {self.session.join_code}",
            style="bold",
        )

    async def _history(self, count: int) -> None:
        """Apply the transcript before we joined; print its last ``count`` messages."""
        head = int((self.room.welcome or {}).get("seq", 0))
        if head == 0:
            return
        rows = await self.client.messages(
            self.session.id, after_seq=max(0, head - count * HISTORY_SCAN_FACTOR)
        )
        earlier = [
            Delivery(int(row["seq"]), str(row["type"]), row, reloaded=True)
            for row in rows
            if int(row["seq"]) <= head
        ]
        shown = {d.seq for d in [d for d in earlier if d.type in HISTORY_TYPES][-count:]}
        if shown:
            self.printer.plain(f"── the last {len(shown)} messages ──", style="dim")
        for delivery in earlier:
            if delivery.seq in shown:
                self.printer.show(delivery)
            else:
                self.state.apply(delivery)

    async def _receive(self) -> None:
        try:
            async for delivery in self.room:
                self.printer.show(delivery)
                self._delivered.set()
                user = delivery.data.get("user") or {}
                me = self.state.me.id if self.state.me else None
                if delivery.type == "progress" and user.get("id") == me and not delivery.reloaded:
                    # My answer reschedules its card once the server has recorded it.
                    self._review_soon(REVIEW_SETTLE_S)
                if delivery.type == "session.ended":
                    raise Left("")  # the printer said so
        except RoomClosed as closed:
            if closed.code == CloseCode.SESSION_ENDED:
                raise Left("the session has ended") from None
            raise Left(room_closed_message(closed.code, closed.reason), exit_code=1) from None
        except Left:
            raise
        except Exception as exc:
            await self._explain_lost_room(exc)
        raise Left("left the room", exit_code=0)

    def _review_soon(self, delay_s: float) -> None:
        if self._reviewing is not None:
            self._reviewing.cancel()
        self._reviewing = asyncio.create_task(self._say_review(delay_s))

    async def _say_review(self, delay_s: float) -> None:
        """Say how many quiz cards are due, or when the next one is; quiet without cards."""
        await asyncio.sleep(delay_s)
        try:
            schedule = await self.client.review_schedule(self.session.id)
        except Exception:
            return  # only a hint: the room goes on without it
        if schedule.due:
            cards = "card is" if schedule.due == 1 else "cards are"
            self.printer.notice(f"{schedule.due} quiz {cards} due for review: type /review")
        elif schedule.next_review_at is not None:
            when = schedule.next_review_at.astimezone().strftime("%a %H:%M")
            self.printer.plain(f"next quiz review due {when}", style="dim")

    async def _explain_lost_room(self, exc: Exception) -> None:
        """The room gave up; an authenticated call shows why (expired login, server gone)."""
        await self.client.current_session()
        raise Left(f"lost the connection to the room: {exc}", exit_code=1)

    async def _watch_connection(self) -> None:
        seen = self.room.reconnects
        # Said once per outage: the welcome count moves on when a connection succeeds.
        announced_at: int | None = None
        while True:
            await asyncio.sleep(CONNECTION_CHECK_S)
            if self.room.reconnects > seen:
                seen = self.room.reconnects
                if announced_at != self.state.welcomes:
                    announced_at = self.state.welcomes
                    self.printer.notice(reconnecting_notice(self.room.last_close))

    async def _read_input(self, lines: Lines) -> None:
        while (line := await lines.next()) is not None:
            command = commands.parse_line(line, quiz_open=self.state.latest_quiz() is not None)
            if command is None:
                continue
            if isinstance(command, commands.Quit):
                raise Left("you left the room")
            try:
                await self._do(command)
            except TimeoutError:
                self.printer.problem("not connected to the room: that was not sent")
        await self._settle()
        raise Left("you left the room")

    async def _settle(self) -> None:
        """At the end of input, wait for what was sent to come back and be answered."""
        while self.state.waiting_on_me():
            self._delivered.clear()
            await self._delivered.wait()

    async def _do(self, command: commands.Command) -> None:
        match command:
            case commands.Say(text=text):
                await self._send_text(self.room.chat, text)
            case commands.Ask(text=text):
                await self._send_text(self.room.ask, text)
            case commands.Stop():
                turn = self.state.turn_to_stop()
                if turn is None:
                    self.printer.notice("the tutor is not answering anything")
                else:
                    await self.room.cancel(turn.turn_id)
            case commands.Answer(choice=choice):
                await self._answer(choice)
            case commands.Review():
                await self.room.review()
            case commands.Who():
                me = self.state.me.id if self.state.me else None
                names = sorted(
                    (
                        f"{name} (you)" if user_id == me else name
                        for user_id, name in self.state.members.items()
                    ),
                    key=str.casefold,
                )
                self.printer.plain(f"in the room: {', '.join(names) or 'nobody'}")
            case commands.Help():
                self.printer.plain(commands.HELP)
            case commands.Invalid(message=message):
                self.printer.problem(message)

    async def _answer(self, choice: int) -> None:
        quiz = self.state.latest_quiz()
        if quiz is None:
            self.printer.problem("there is no open quiz to answer")
            return
        if not 1 <= choice <= len(quiz.choices):
            self.printer.problem(f"choose a number from 1 to {len(quiz.choices)}")
            return
        await self.room.answer(quiz.quiz_id, choice - 1)

    async def _send_text(self, send: Callable[..., Awaitable[None]], text: str) -> None:
        """Chat or ask, remembering the message until its room event comes back."""
        client_msg_id = f"cli-{uuid.uuid4().hex[:16]}"
        self.state.unconfirmed.add(client_msg_id)
        try:
            await send(text, client_msg_id=client_msg_id)
        except BaseException:
            self.state.unconfirmed.discard(client_msg_id)
            raise
