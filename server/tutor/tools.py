"""The tutor's tools. Each acts only inside the session of the turn that calls it.

A tool never takes a session, user or topic from the model: those come from the turn, and an
argument the tool does not declare (a ``topic_id``, a ``user_id``) is refused, not ignored, so
the model learns that it cannot reach elsewhere. Bad arguments are answered to the model as an
error message, never raised. A turn's calls are capped: a model that asks for hundreds gets an
error for each one past the cap instead of flooding the room.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from protocol.events import ProgressEvent, QuizEvent, UserRef, now_iso
from server.live.ports import TutorState
from server.progress.cards import QuizCards
from server.rooms.hub import Hub
from server.tutor.knowledge import MaterialSearch, Passage
from server.tutor.prompt import quote_passages
from server.tutor.provider import ToolCall, ToolSpec

MAX_CHOICES = 6
SEARCH_LIMIT = 4
# Tool calls one turn may make, over all its rounds.
MAX_CALLS_PER_TURN = 8
# Longest arguments text parsed; real arguments, within the schemas' limits, are far shorter.
MAX_ARGUMENT_CHARS = 32_000
# How much of a tool name the model made up is repeated back to it.
_NAME_SHOWN = 64

TOOL_SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "search_materials",
        "Search the passages of this topic's uploaded study materials.",
        {
            "type": "object",
            "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 500}},
            "required": ["query"],
            "additionalProperties": False,
        },
    ),
    ToolSpec(
        "pose_quiz",
        "Post a multiple-choice question to everyone in the room; answers are graded for you.",
        {
            "type": "object",
            "properties": {
                "question": {"type": "string", "minLength": 1, "maxLength": 1000},
                "choices": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": 300},
                    "minItems": 2,
                    "maxItems": MAX_CHOICES,
                },
                "answer_index": {"type": "integer", "minimum": 0},
                "concept": {"type": "string", "minLength": 1, "maxLength": 100},
            },
            "required": ["question", "choices", "answer_index", "concept"],
            "additionalProperties": False,
        },
    ),
    ToolSpec(
        "record_concept",
        "Record how well the learner who asked understands a concept they worked on.",
        {
            "type": "object",
            "properties": {
                "concept": {"type": "string", "minLength": 1, "maxLength": 100},
                "mastery": {"type": "number", "minimum": 0, "maximum": 1},
            },
            "required": ["concept", "mastery"],
            "additionalProperties": False,
        },
    ),
)


_ARGUMENTS: dict[str, frozenset[str]] = {
    spec.name: frozenset(spec.parameters["properties"]) for spec in TOOL_SPECS
}


class ToolArgumentError(ValueError):
    pass


@dataclass
class TurnTools:
    """The tools as one turn sees them."""

    session_id: int
    turn_id: str
    asker: UserRef
    topic_id: int | None
    hub: Hub
    state: TutorState
    search: MaterialSearch
    # Where posed quizzes are kept as cards for spaced review; None keeps none.
    cards: QuizCards | None = None
    cited: list[Passage] = field(default_factory=list)
    calls: int = 0

    async def run(self, call: ToolCall) -> str:
        """Execute one call; the result (or the error) as text for the model."""
        self.calls += 1
        if self.calls > MAX_CALLS_PER_TURN:
            return (
                f"error: this answer already used its {MAX_CALLS_PER_TURN} tool calls; "
                "this call was not run. Answer with what you have."
            )
        tools = {
            "search_materials": self._search,
            "pose_quiz": self._pose_quiz,
            "record_concept": self._record_concept,
        }
        try:
            args = _arguments(call)
            return await tools[call.name](args)
        except (ValueError, TypeError, KeyError) as exc:
            return f"error: {exc}"

    async def _search(self, args: dict[str, Any]) -> str:
        query = _text(args, "query", 500)
        found: list[Passage] = []
        if self.topic_id is not None:
            found = await self.search.search(self.topic_id, query, SEARCH_LIMIT)
        self.cited.extend(p for p in found if p not in self.cited)
        return quote_passages(found)

    async def _pose_quiz(self, args: dict[str, Any]) -> str:
        question = _text(args, "question", 1000)
        choices = args.get("choices")
        if not isinstance(choices, list) or not 2 <= len(choices) <= MAX_CHOICES:
            raise ToolArgumentError(f"choices must be a list of 2 to {MAX_CHOICES} strings")
        options = [_text({"c": c}, "c", 300) for c in choices]
        answer = args.get("answer_index")
        if (
            not isinstance(answer, int)
            or isinstance(answer, bool)
            or not 0 <= answer < len(options)
        ):
            raise ToolArgumentError("answer_index must index one of the choices")
        concept = _text(args, "concept", 100)
        quiz_id = "q" + secrets.token_hex(6)
        key = {"answer": answer, "concept": concept, "choices": len(options)}
        await self.state.put_quiz(self.session_id, quiz_id, json.dumps(key))
        await self.hub.publish(
            self.session_id,
            QuizEvent(
                quiz_id=quiz_id,
                question=question,
                choices=options,
                turn_id=self.turn_id,
                ts=now_iso(),
            ),
        )
        if self.cards is not None and self.topic_id is not None:
            await self.cards.keep(self.topic_id, quiz_id, concept, question, options, answer)
        return f"Quiz {quiz_id} is posted. Do not reveal its answer; learners answer in the room."

    async def _record_concept(self, args: dict[str, Any]) -> str:
        concept = _text(args, "concept", 100)
        mastery = args.get("mastery")
        if not isinstance(mastery, int | float) or isinstance(mastery, bool):
            raise ToolArgumentError("mastery must be a number from 0 to 1")
        if not 0.0 <= float(mastery) <= 1.0:
            raise ToolArgumentError("mastery must be a number from 0 to 1")
        await self.hub.publish(
            self.session_id,
            ProgressEvent(
                user=self.asker,
                concept=concept,
                mastery=round(float(mastery), 3),
                source="tutor",
                ts=now_iso(),
            ),
        )
        return "recorded"


def _arguments(call: ToolCall) -> dict[str, Any]:
    """The call's arguments, checked against the names its tool declares."""
    allowed = _ARGUMENTS.get(call.name)
    if allowed is None:
        raise ToolArgumentError(f"there is no tool named {call.name[:_NAME_SHOWN]!r}")
    if len(call.arguments) > MAX_ARGUMENT_CHARS:
        raise ToolArgumentError(f"arguments are longer than {MAX_ARGUMENT_CHARS} characters")
    try:
        args = json.loads(call.arguments or "{}")
    except RecursionError:
        raise ToolArgumentError("arguments are nested too deeply") from None
    if not isinstance(args, dict):
        raise ToolArgumentError("arguments must be a JSON object")
    unknown = sorted(str(name)[:_NAME_SHOWN] for name in args if name not in allowed)
    if unknown:
        raise ToolArgumentError(
            f"unknown arguments {unknown}: {call.name} acts only on this session and its "
            f"asker; it takes {sorted(allowed)}"
        )
    return args


def _text(args: dict[str, Any], name: str, limit: int) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ToolArgumentError(f"{name} must be a non-empty string")
    if len(value) > limit:
        raise ToolArgumentError(f"{name} is longer than {limit} characters")
    return value.strip()
