"""How each room event and frame reads in the terminal, and the room state kept up to date."""

from __future__ import annotations

import time
from datetime import datetime

from rich.text import Text

from clients.cli.chat.state import RoomState
from clients.cli.chat.views import View
from clients.sdk import Delivery
from protocol.events import (
    AgentDeltaEvent,
    AgentDoneEvent,
    AgentErrorEvent,
    AgentFallbackEvent,
    AgentStartEvent,
    AskEvent,
    ChatEvent,
    MaterialAddedEvent,
    MaterialRemovedEvent,
    MemberRemovedEvent,
    MemberRoleEvent,
    PresenceEvent,
    ProgressEvent,
    QuizEvent,
    QuizResultEvent,
    SessionEndedEvent,
    SessionUpdatedEvent,
    TopicChangedEvent,
    UserRef,
)

# A member typing keeps sending frames; say so once per burst, not once per frame.
TYPING_QUIET_S = 5.0


def clock(ts: str) -> str:
    """An event's UTC timestamp as local ``HH:MM``."""
    try:
        return f"{datetime.fromisoformat(ts).astimezone():%H:%M}"
    except ValueError:
        return "--:--"


class Printer:
    """Shows deliveries through a view, updating ``state`` as it goes."""

    def __init__(self, view: View, state: RoomState) -> None:
        self.view = view
        self.state = state
        self._typing_shown: dict[int, float] = {}
        # Turns another model took over, and why: said when the turn ends.
        self._fallbacks: dict[str, str] = {}

    # what the rest of the client says

    def notice(self, message: str) -> None:
        self.view.line(Text(message, style="yellow"))

    def problem(self, message: str) -> None:
        self.view.line(Text(message, style="bold red"))

    def plain(self, message: str, style: str = "") -> None:
        self.view.line(Text(message, style=style))

    # deliveries

    def show(self, delivery: Delivery) -> None:
        if delivery.seq is None:
            self._frame(delivery)
        else:
            self._event(delivery)
        self.state.apply(delivery)

    def _who(self, user: UserRef) -> Text:
        name = self.state.name_of(user)
        if self.state.is_me(user):
            return Text(name, style="bold green")
        return Text(name, style="bold cyan")

    def _frame(self, delivery: Delivery) -> None:
        data = delivery.data
        if delivery.type == "welcome":
            self._welcome(data)
        elif delivery.type == "typing":
            user = UserRef.model_validate(data["user"])
            now = time.monotonic()
            if now - self._typing_shown.get(user.id, -TYPING_QUIET_S) >= TYPING_QUIET_S:
                self._typing_shown[user.id] = now
                self.view.line(Text.assemble(self._who(user), (" is typing…", "dim")))
        elif delivery.type == "error":
            code, message = data.get("code", "error"), data.get("message", "")
            self.problem(f"the server refused that ({code}): {message}")

    def _welcome(self, data: dict[str, object]) -> None:
        if self.state.welcomes:
            replayed = "missed events were replayed" if data.get("resumed") else "caught up"
            self.notice(f"reconnected; {replayed}")
            return
        user = data.get("user")
        name = user.get("name") if isinstance(user, dict) else "?"
        self.view.line(
            Text.assemble(
                ("● ", "green"),
                f"you are in the room as {name}. ",
                ("Type to chat, ? to ask the tutor, /help for more.", "dim"),
            )
        )

    def _event(self, delivery: Delivery) -> None:
        event = delivery.event
        match event:
            case ChatEvent(user=user, text=text, ts=ts):
                self.view.line(Text.assemble((f"{clock(ts)} ", "dim"), self._who(user), ": ", text))
            case AskEvent(user=user, text=text, ts=ts):
                self.view.line(
                    Text.assemble(
                        (f"{clock(ts)} ", "dim"),
                        self._who(user),
                        (" asks the tutor: ", "magenta"),
                        text,
                    )
                )
            case AgentStartEvent(turn_id=turn_id):
                self.view.turn_started(turn_id, self._turn_title(turn_id))
            case AgentDeltaEvent(turn_id=turn_id, text=text):
                so_far = self._shown(turn_id) + text
                self.view.turn_delta(turn_id, self._turn_title(turn_id), text, so_far)
            case AgentDoneEvent():
                self._done(event)
            case MaterialAddedEvent(material=material):
                name = material.get("filename", "a file")
                self.view.line(Text(f"new material: {name} (the tutor can cite it)", style="dim"))
            case MaterialRemovedEvent():
                self.view.line(Text("a material was removed from the topic", style="dim"))
            case AgentFallbackEvent(turn_id=turn_id, from_=failed, to=to, reason=reason):
                self._fallbacks[turn_id] = f"{failed} failed ({reason}), {to} finished"
            case AgentErrorEvent(turn_id=turn_id, code=code, message=message):
                # Whatever part of the answer arrived stays on screen.
                shown = self._shown(turn_id)
                self.view.turn_finished(turn_id, self._turn_title(turn_id), shown, shown, "")
                self.problem(f"the tutor could not answer ({code}): {message}")
            case QuizEvent():
                self._quiz(event, open_now=not delivery.reloaded)
            case QuizResultEvent(quiz_id=quiz_id, user=user, choice=choice, correct=correct):
                quiz = self.state.quizzes.get(quiz_id)
                about = f" to “{quiz.question}”" if quiz else ""
                verdict = ("✓ right", "green") if correct else ("✗ wrong", "red")
                self.view.line(
                    Text.assemble(
                        self._who(user),
                        f" answered{about} with {choice + 1}: ",
                        verdict,
                    )
                )
            case ProgressEvent(user=user, concept=concept, mastery=mastery):
                self.view.line(
                    Text.assemble(
                        ("↗ ", "blue"),
                        self._who(user),
                        f" · {concept}: {mastery:.0%} mastery",
                    )
                )
            case PresenceEvent(event=kind, user=user) if not self.state.is_me(user):
                arrow, verb = ("→ ", " joined") if kind == "join" else ("← ", " left")
                self.view.line(Text.assemble((arrow, "dim"), self._who(user), (verb, "dim")))
            case TopicChangedEvent(topic=topic):
                title = topic.get("title") if topic else None
                self.notice(f"the topic is now: {title}" if title else "the topic was removed")
            case SessionEndedEvent():
                self.notice("the session has ended")
            case SessionUpdatedEvent(session=session):
                self.notice(settings_text(session))
            case MemberRoleEvent(user=user, role=role):
                now = "now a host" if role == "host" else "no longer a host"
                self.view.line(Text.assemble(self._who(user), (f" is {now}", "dim")))
            case MemberRemovedEvent(user=user) if not self.state.is_me(user):
                self.view.line(
                    Text.assemble(self._who(user), (" is no longer in the session", "dim"))
                )
            case _:
                pass

    def _shown(self, turn_id: str) -> str:
        turn = self.state.turns.get(turn_id)
        return turn.text if turn else ""

    def _turn_title(self, turn_id: str) -> str:
        turn = self.state.turns.get(turn_id)
        return f"tutor → {turn.asker}" if turn else "tutor"

    def _done(self, event: AgentDoneEvent) -> None:
        notes = []
        if event.stopped:
            notes.append("stopped")
        if event.truncated:
            notes.append("cut off at the length limit")
        if (took_over := self._fallbacks.pop(event.turn_id, None)) is not None:
            notes.append(took_over)
        if event.citations:
            # Several passages of one page are one source to a reader.
            sources = dict.fromkeys(
                (c.filename or f"material {c.material_id}")
                + (f" p.{c.page}" if c.page is not None else "")
                for c in event.citations
            )
            notes.append(f"sources: {', '.join(sources)}")
        title = self._turn_title(event.turn_id)
        shown = self._shown(event.turn_id)
        self.view.turn_finished(event.turn_id, title, event.text, shown, " · ".join(notes))

    def _quiz(self, quiz: QuizEvent, open_now: bool) -> None:
        label = "review: " if quiz.review_of else "quiz: "
        block = Text.assemble((label, "bold yellow"), (quiz.question, "bold"))
        for number, choice in enumerate(quiz.choices, start=1):
            block.append(f"\n  {number}) {choice}")
        if open_now:
            block.append("\n  answer with /answer N", style="dim")
        self.view.line(block)


def settings_text(session: dict[str, object]) -> str:
    """``session: “Folds” · tutor socratic · open to join``, as ``session.updated`` shows it."""
    tutor = session.get("tutor_mode") or "socratic"
    lock = "locked: no new joins" if session.get("locked") else "open to join"
    code = session.get("join_code")
    join = f" · join code {code}" if code else ""
    return f"session: “{session.get('title')}” · tutor {tutor} · {lock}{join}"
