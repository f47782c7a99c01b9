"""What the terminal room knows: who is here, open quizzes, tutor turns, unconfirmed sends.

Plain data updated from deliveries, so the printer and the input loop agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clients.sdk import Delivery
from protocol.events import (
    AgentDeltaEvent,
    AgentDoneEvent,
    AgentErrorEvent,
    AgentStartEvent,
    AskEvent,
    ChatEvent,
    PresenceEvent,
    QuizEvent,
    QuizResultEvent,
    UserRef,
)


@dataclass
class Turn:
    """A tutor turn from its ``ask`` to its terminal event."""

    turn_id: str
    asker: str
    mine: bool
    # The deltas received so far, concatenated.
    text: str = ""
    started: bool = False


@dataclass
class RoomState:
    me: UserRef | None = None
    members: dict[int, str] = field(default_factory=dict)
    # Quizzes I have not answered yet, oldest first.
    quizzes: dict[str, QuizEvent] = field(default_factory=dict)
    # Turns whose ask was seen and whose terminal event was not, oldest first.
    turns: dict[str, Turn] = field(default_factory=dict)
    # client_msg_ids of my chats and asks whose room event has not come back yet.
    unconfirmed: set[str] = field(default_factory=set)
    welcomes: int = 0

    def name_of(self, user: UserRef) -> str:
        return self.members.get(user.id, user.name)

    def is_me(self, user: UserRef) -> bool:
        return self.me is not None and user.id == self.me.id

    def latest_quiz(self) -> QuizEvent | None:
        return next(reversed(self.quizzes.values()), None)

    def turn_to_stop(self) -> Turn | None:
        """The answer being written now, else the oldest one still waiting."""
        started = [t for t in self.turns.values() if t.started]
        return started[0] if started else next(iter(self.turns.values()), None)

    def waiting_on_me(self) -> bool:
        """Something I sent still has to come back, or a question of mine is unanswered."""
        return bool(self.unconfirmed) or any(t.mine for t in self.turns.values())

    def apply(self, delivery: Delivery) -> None:
        if delivery.seq is None:
            self._apply_frame(delivery)
            return
        event = delivery.event
        match event:
            case PresenceEvent(event="join", user=user):
                self.members[user.id] = user.name
            case PresenceEvent(event="leave", user=user):
                self.members.pop(user.id, None)
            case ChatEvent(client_msg_id=cid) if cid:
                self.unconfirmed.discard(cid)
            case AskEvent(turn_id=turn_id, user=user, client_msg_id=cid):
                # "mine" means asked from this terminal: leaving at end of input waits for it.
                mine = bool(cid and cid in self.unconfirmed)
                if cid:
                    self.unconfirmed.discard(cid)
                self.turns[turn_id] = Turn(turn_id, user.name, mine)
            case AgentStartEvent(turn_id=turn_id):
                self._turn(turn_id).started = True
            case AgentDeltaEvent(turn_id=turn_id, text=text):
                turn = self._turn(turn_id)
                turn.started = True
                turn.text += text
            case AgentDoneEvent(turn_id=turn_id) | AgentErrorEvent(turn_id=turn_id):
                self.turns.pop(turn_id, None)
            case QuizEvent(quiz_id=quiz_id):
                self.quizzes[quiz_id] = event
            case QuizResultEvent(quiz_id=quiz_id, user=user) if self.is_me(user):
                self.quizzes.pop(quiz_id, None)
            case _:
                pass

    def _turn(self, turn_id: str) -> Turn:
        # Joined in the middle of a turn: its ask came before we were here.
        return self.turns.setdefault(turn_id, Turn(turn_id, "someone", mine=False))

    def _apply_frame(self, delivery: Delivery) -> None:
        if delivery.type == "welcome":
            data = delivery.data
            self.welcomes += 1
            self.me = UserRef.model_validate(data["user"])
            self.members = {
                int(m["id"]): str(m["name"]) for m in data.get("members", ()) if "id" in m
            }
        elif delivery.type == "error":
            # The refused frame is not named: none of the waiting sends can be counted on.
            self.unconfirmed.clear()
