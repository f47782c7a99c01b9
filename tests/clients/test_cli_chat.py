"""``studyroom chat`` through pipes: a learner in the terminal, another member on the SDK, and
a tutor answering from a scripted model (streamed answers, a quiz, a stopped turn)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clients.sdk import Delivery, Room, StudyroomClient
from clients.sdk.models import Session
from tests.clients.cli_support import OUTPUT_TIMEOUT_S, Cli, Interactive, eventually, sdk_user
from tests.fakes.scripted_openai import Drop, Script, ScriptedOpenAI, Text, ToolCallStep, Usage

ANSWER = (
    "A tree is a connected graph without cycles. "
    "Any two of its vertices are joined by exactly one path."
)
QUIZ = {
    "question": "Which graph is a tree?",
    "choices": ["A connected graph without cycles", "A cycle", "Two separate vertices"],
    "answer_index": 0,
    "concept": "Trees",
}
QUIZ_FOLLOW_UP = "Your quiz is in the room."
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
async def model() -> AsyncIterator[ScriptedOpenAI]:
    async with ScriptedOpenAI() as scripted:
        yield scripted


@pytest.fixture
async def scripted_server(
    model: ScriptedOpenAI, make_server: Any, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Awaitable[Any]]:
    """``scripted_server(**settings)``: a server whose tutor is the scripted model."""
    # The provider reads the OpenAI SDK's variables when the server starts.
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", model.base_url)

    async def start(**overrides: Any) -> Any:
        settings: dict[str, Any] = {
            "tutor_provider": "openai",
            "tutor_model": "scripted",
            "tutor_max_retries": 0,
            "tutor_first_token_timeout_s": 5.0,
            "tutor_idle_timeout_s": 5.0,
            # One learner asks four questions in a row here.
            "tutor_ask_burst": 5,
        }
        return await make_server(**(settings | overrides))

    return start


@pytest.fixture
async def tutor_server(scripted_server: Callable[..., Awaitable[Any]]) -> Any:
    return await scripted_server()


@dataclass
class Learner:
    """A user with a session of their own, logged in both on the SDK and in the command."""

    name: str
    sdk: StudyroomClient
    cli: Cli
    session: Session


@asynccontextmanager
async def learner(base_url: str, name: str, config: Path) -> AsyncIterator[Learner]:
    async with sdk_user(base_url, name) as sdk:
        topic = await sdk.create_topic("Graph theory")
        session = await sdk.create_session(topic.id, "Trees")
        cli = Cli(config)
        await cli.login(base_url, name)
        yield Learner(name, sdk, cli, session)


class Member:
    """An SDK member in the room, keeping everything it receives."""

    def __init__(self, room: Room) -> None:
        self.seen: list[Delivery] = []
        self._grew = asyncio.Event()
        self._task = asyncio.create_task(self._collect(room))

    async def _collect(self, room: Room) -> None:
        async for delivery in room:
            self.seen.append(delivery)
            self._grew.set()

    async def sees(self, predicate: Callable[[Delivery], bool]) -> Delivery:
        async def first() -> Delivery:
            while not (found := [d for d in self.seen if predicate(d)]):
                self._grew.clear()
                await self._grew.wait()
            return found[0]

        return await asyncio.wait_for(first(), OUTPUT_TIMEOUT_S)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def test_chat_with_a_member_and_the_tutor(
    tutor_server: Any, model: ScriptedOpenAI, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    bob_name = unique("bob")
    async with (
        learner(tutor_server.base_url, unique("ada"), tmp_path / "ada.json") as ada,
        sdk_user(tutor_server.base_url, bob_name) as bob,
    ):
        session = ada.session
        await bob.join(session.join_code)
        model.enqueue(
            Script.tokens(ANSWER, per_token_delay=0.005),
            Script(ToolCallStep("pose_quiz", json.dumps(QUIZ), id="call_quiz"), Usage()),
            Script.tokens(QUIZ_FOLLOW_UP),
            Script(*Script.tokens("Trees are graphs").steps, finish_reason="length"),
            Script.tokens("word " * 400, per_token_delay=0.02),
        )
        chat = await ada.cli.start("chat")  # the current session: the one just created
        try:
            at = await chat.shows(f"session {session.id}: Trees · topic: Graph theory")
            at = await chat.shows(f"you are in the room as {ada.name}", at)
            async with bob.room(session.id) as room:
                member = Member(room)
                try:
                    at = await chat.shows(f"{bob_name} joined", at)
                    await converse(chat, member, room, ada.name, bob_name, at)
                finally:
                    await member.stop()
        finally:
            await chat.kill()

        # What happened in the room shows in the report and in the concept progress.
        await eventually(
            lambda: ada.sdk.report(session.id),
            lambda r: r.quiz_answers == 1 and r.tutor_turns == 4,
        )
        report = (await ada.cli.ok("report", str(session.id), "--json")).json()["report"]
        assert report["questions"] == 4 and report["messages"] == 2
        assert report["quiz_answers"] == 1 and report["quiz_accuracy"] == 1.0
        (concept,) = (await ada.cli.ok("progress", "--json")).json()
        assert concept["concept"] == "Trees" and concept["reviews"] == 1


async def converse(
    chat: Interactive, member: Member, room: Room, ada: str, bob: str, at: int
) -> None:
    await chat.send("/who")
    at = await chat.shows(f"in the room: {ada} (you), {bob}\n", at)

    await chat.send("hello from the terminal")
    said = await member.sees(lambda d: d.type == "chat")
    assert said.data["text"] == "hello from the terminal" and said.data["user"]["name"] == ada
    await room.typing()
    at = await chat.shows(f"{bob} is typing…", at)
    await room.chat("hi from the sdk")
    at = await chat.shows(f"{bob}: hi from the sdk", at)

    # The answer streams into the pipe as plain text, whole.
    await chat.send("? What is a tree?")
    at = await chat.shows(f"{ada} asks the tutor: What is a tree?", at)
    answered = await member.sees(lambda d: d.type == "agent.done")
    assert answered.data["text"] == ANSWER
    at = await chat.shows(f"tutor → {ada}: {ANSWER}\n", at)

    # Mistakes are explained and the room goes on.
    await chat.send("/answer 1")
    at = await chat.shows("there is no open quiz to answer", at)
    await chat.send("/frobnicate")
    at = await chat.shows("unknown command /frobnicate", at)

    await chat.send("? Quiz me on trees")
    at = await chat.shows("quiz: Which graph is a tree?", at)
    at = await chat.shows("  1) A connected graph without cycles\n  2) A cycle\n", at)
    at = await chat.shows(QUIZ_FOLLOW_UP, at)
    await chat.send("/answer 4")
    at = await chat.shows("choose a number from 1 to 3", at)
    await chat.send("/answer 1")
    result = await member.sees(lambda d: d.type == "quiz.result")
    assert result.data["user"]["name"] == ada and result.data["correct"] is True
    at = await chat.shows("with 1: ✓ right", at)
    at = await chat.shows(f"{ada} · Trees: ", at)

    # An answer cut at the tutor's length limit says so.
    await chat.send("? Summarise trees")
    at = await chat.shows("Trees are graphs", at)
    at = await chat.shows("cut off at the length limit\n", at)

    # /stop cancels the answer in progress.
    await chat.send("? Tell me everything about trees")
    at = await chat.shows("word word", at)
    await chat.send("/stop")
    stopped = await member.sees(lambda d: d.type == "agent.done" and d.data["stopped"])
    assert "word" in stopped.data["text"]
    at = await chat.shows("\nstopped\n", at)

    await chat.send("/quit")
    assert await chat.finish() == 0
    left = await member.sees(lambda d: d.type == "presence" and d.data["event"] == "leave")
    assert left.data["user"]["name"] == ada
    assert "Traceback" not in chat.err, chat.err


async def test_end_of_input_waits_for_the_answer_then_leaves(
    tutor_server: Any, model: ScriptedOpenAI, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    async with learner(tutor_server.base_url, unique("ada"), tmp_path / "ada.json") as ada:
        model.enqueue(Script.tokens(ANSWER, per_token_delay=0.005))
        piped = await ada.cli.run("chat", str(ada.session.id), stdin="hello\n? What is a tree?\n")
        assert piped.code == 0, piped
        assert f"{ada.name}: hello" in piped.out
        assert f"tutor → {ada.name}: {ANSWER}\n" in piped.out


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_an_answer_the_offline_model_finished_says_so(
    model: ScriptedOpenAI,
    scripted_server: Callable[..., Awaitable[Any]],
    tmp_path: Path,
    unique: Callable[[str], str],
) -> None:
    server = await scripted_server(tutor_fallback="local", tutor_max_tokens=16)
    async with learner(server.base_url, unique("ada"), tmp_path / "ada.json") as ada:
        model.enqueue(Script(Text("A tree is a graph "), Drop()))
        piped = await ada.cli.run("chat", str(ada.session.id), stdin="? What is a tree?\n")
    assert piped.code == 0, piped
    assert f"tutor → {ada.name}: A tree is a graph " in piped.out
    assert "scripted failed (model_error), SmolLM2-135M-Instruct.Q4_1 finished" in piped.out


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_a_terminal_gets_the_answer_in_a_live_markdown_panel(
    tutor_server: Any, model: ScriptedOpenAI, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    async with learner(tutor_server.base_url, unique("ada"), tmp_path / "ada.json") as ada:
        model.enqueue(Script.tokens("**Trees** have no cycles.", per_token_delay=0.005))
        # rich treats the pipe as a terminal: no colours (NO_COLOR), but cursor movement.
        ada.cli.env["TTY_COMPATIBLE"] = "1"
        shown = await ada.cli.run("chat", str(ada.session.id), stdin="? What is a tree?\n")
    assert shown.code == 0, shown
    # The panel was redrawn in place while the answer streamed.
    assert "\x1b[2K" in shown.out
    text = ANSI.sub("", shown.out)
    assert f"╭─ tutor → {ada.name} ─" in text
    # Markdown rendered: the emphasis markers are gone, the words stay.
    assert "│ Trees have no cycles." in text and "**Trees**" not in text


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_the_room_ends_with_its_session(
    tutor_server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    async with learner(tutor_server.base_url, unique("ada"), tmp_path / "ada.json") as ada:
        chat = await ada.cli.start("chat", str(ada.session.id))
        try:
            await chat.shows(f"you are in the room as {ada.name}")
            await ada.sdk.end_session(ada.session.id)
            await chat.shows("the session has ended")
            code = await chat.finish()
            assert code == 0, chat.out + chat.err
        finally:
            await chat.kill()
        ended = await ada.cli.run("chat", str(ada.session.id))
        assert ended.code == 1 and f"session {ada.session.id} has ended" in ended.err


async def test_materials_added_and_removed_show_in_the_room(
    tutor_server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    async with learner(tutor_server.base_url, unique("ada"), tmp_path / "ada.json") as ada:
        notes = tmp_path / "trees.md"
        notes.write_text("# Trees\n\nA tree is a connected graph without cycles.\n")
        chat = await ada.cli.start("chat", str(ada.session.id))
        try:
            at = await chat.shows(f"you are in the room as {ada.name}")
            material = await ada.sdk.upload(ada.session.topic_id, notes)
            at = await chat.shows("new material: trees.md (the tutor can cite it)", at)
            await ada.sdk.delete_material(material.id)
            at = await chat.shows("a material was removed from the topic", at)
            await chat.send("/quit")
            assert await chat.finish() == 0
        finally:
            await chat.kill()


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_a_quiz_answered_wrong_comes_back_with_review(
    model: ScriptedOpenAI,
    scripted_server: Callable[..., Awaitable[Any]],
    tmp_path: Path,
    unique: Callable[[str], str],
) -> None:
    # Review ahead two minutes: a card answered wrong is due again after one.
    server = await scripted_server(review_ahead_s=120)
    async with learner(server.base_url, unique("ada"), tmp_path / "ada.json") as ada:
        model.enqueue(
            Script(ToolCallStep("pose_quiz", json.dumps(QUIZ), id="call_quiz"), Usage()),
            Script.tokens(QUIZ_FOLLOW_UP),
        )
        chat = await ada.cli.start("chat", str(ada.session.id))
        try:
            at = await chat.shows(f"you are in the room as {ada.name}")
            await chat.send("? Quiz me on trees")
            at = await chat.shows("quiz: Which graph is a tree?", at)
            await chat.send("/answer 2")
            at = await chat.shows("with 2: ✗ wrong", at)
            at = await chat.shows("1 quiz card is due for review: type /review", at)
            await chat.send("/review")
            at = await chat.shows("review: Which graph is a tree?", at)
            await chat.send("/answer 1")
            at = await chat.shows("with 1: ✓ right", at)
            at = await chat.shows("next quiz review due", at)
            await chat.send("/review")
            at = await chat.shows("(nothing_due)", at)
            await chat.send("/quit")
            assert await chat.finish() == 0
        finally:
            await chat.kill()


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_refused_frames_and_dropped_connections_are_explained(
    make_server: Any, tmp_path: Path, unique: Callable[[str], str]
) -> None:
    server = await make_server(chat_max_chars=100, max_frame_bytes=4096)
    async with learner(server.base_url, unique("ada"), tmp_path / "ada.json") as ada:
        chat = await ada.cli.start("chat", str(ada.session.id))
        try:
            at = await chat.shows(f"you are in the room as {ada.name}")
            await chat.send("y" * 200)
            at = await chat.shows("the server refused that (invalid_frame): ", at)
            # A frame over the server's limit makes it close the socket (1009); the room
            # comes back by itself.
            await chat.send("x" * 5000)
            at = await chat.shows("reconnected", at)
            await chat.send("still here")
            at = await chat.shows(f"{ada.name}: still here", at)
            await chat.send("/quit")
            assert await chat.finish() == 0
        finally:
            await chat.kill()
