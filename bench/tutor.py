"""Tutor overhead: what studyroom adds between a model's stream and a room member.

The model is ``ScriptedOpenAI`` (a real OpenAI-compatible SSE server) in the load generator's
process, which notes the moment each response's first content token is handed to its socket.
Each turn is measured twice, with the same script:

- through studyroom: a member asks; another member sees ``agent.delta`` and ``agent.done``.
  First token = model sends its first token → first ``agent.delta`` at the member; whole turn
  = ask sent → ``agent.done`` at the member;
- directly: the openai SDK streams the same script. First token = model sends it → the SDK
  yields it; whole turn = request → end of stream.

The overhead is studyroom's number minus the direct one (p50 against p50).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from openai import AsyncOpenAI
from websockets.asyncio.client import ClientConnection, connect

from bench.loadgen import percentile
from tests.fakes.scripted_openai import AsgiMessage, Receive, Script, ScriptedOpenAI, Send
from tests.support.pool import RoomPool

ANSWER = (
    "Photosynthesis turns light into chemical energy: chlorophyll absorbs photons, water is "
    "split, and the Calvin cycle fixes carbon dioxide into sugar."
)
# Gap between tokens, as a fast model streams; the first token waits as long.
TOKEN_GAP_S = 0.002
_WARMUP_TURNS = 3


class TimedScriptedOpenAI(ScriptedOpenAI):
    """Notes ``time.monotonic_ns()`` as each streamed response's first content token leaves."""

    def __init__(self) -> None:
        super().__init__()
        self.first_token_ns: list[int] = []

    async def _app(self, scope: AsgiMessage, receive: Receive, send: Send) -> None:
        marked = False

        async def timed(message: AsgiMessage) -> None:
            nonlocal marked
            if not marked and message["type"] == "http.response.body":
                body = message.get("body", b"")
                # The role chunk carries an empty content; the first token does not.
                if b'"content": "' in body and b'"content": ""' not in body:
                    marked = True
                    self.first_token_ns.append(time.monotonic_ns())
            await send(message)

        await super()._app(scope, receive, timed)


def _script() -> Script:
    return Script.tokens(ANSWER, per_token_delay=TOKEN_GAP_S)


def _summary(values_ns: list[int]) -> dict[str, float]:
    ordered = sorted(values_ns)
    return {
        "p50_ms": round(percentile(ordered, 0.5) / 1e6, 3),
        "p99_ms": round(percentile(ordered, 0.99) / 1e6, 3),
    }


async def _drain(ws: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        async for _ in ws:
            pass


async def through_studyroom(
    model: TimedScriptedOpenAI, setup: RoomPool, turns: int
) -> dict[str, Any]:
    _, urls = await setup.new_session(2)
    asker = await connect(urls[0], compression=None, ping_interval=None, max_size=None)
    member = await connect(urls[1], compression=None, ping_interval=None, max_size=None)
    drain = asyncio.create_task(_drain(asker))
    first: list[int] = []
    whole: list[int] = []
    try:
        await member.recv()  # welcome
        for turn in range(_WARMUP_TURNS + turns):
            model.enqueue(_script())
            index = len(model.first_token_ns)
            asked = time.monotonic_ns()
            await asker.send('{"type":"ask","text":"How does photosynthesis work?"}')
            delta_at = 0
            async with asyncio.timeout(30):
                while True:
                    frame = await member.recv()
                    assert isinstance(frame, str)
                    if not delta_at and '"type":"agent.delta"' in frame:
                        delta_at = time.monotonic_ns()
                    elif '"type":"agent.done"' in frame or '"type":"agent.error"' in frame:
                        done_at = time.monotonic_ns()
                        if '"type":"agent.error"' in frame:
                            raise RuntimeError(f"the tutor failed: {frame[:300]}")
                        break
            if turn >= _WARMUP_TURNS:
                first.append(delta_at - model.first_token_ns[index])
                whole.append(done_at - asked)
    finally:
        drain.cancel()
        await asker.close()
        await member.close()
    return {"first_token": _summary(first), "whole_turn": _summary(whole), "turns": len(whole)}


async def direct(model: TimedScriptedOpenAI, turns: int) -> dict[str, Any]:
    client = AsyncOpenAI(base_url=model.base_url, api_key="benchmark", max_retries=0)
    first: list[int] = []
    whole: list[int] = []
    try:
        for turn in range(_WARMUP_TURNS + turns):
            model.enqueue(_script())
            index = len(model.first_token_ns)
            began = time.monotonic_ns()
            stream = await client.chat.completions.create(
                model="scripted",
                messages=[{"role": "user", "content": "How does photosynthesis work?"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            got = 0
            async for chunk in stream:
                if not got and chunk.choices and chunk.choices[0].delta.content:
                    got = time.monotonic_ns()
            ended = time.monotonic_ns()
            if turn >= _WARMUP_TURNS:
                first.append(got - model.first_token_ns[index])
                whole.append(ended - began)
    finally:
        await client.close()
    return {"first_token": _summary(first), "whole_turn": _summary(whole), "turns": len(whole)}


async def tutor_overhead(model: TimedScriptedOpenAI, setup: RoomPool, turns: int) -> dict[str, Any]:
    room = await through_studyroom(model, setup, turns)
    sdk = await direct(model, turns)
    return {
        "turns": turns,
        "script": {"tokens": len(_script().steps) - 1, "token_gap_ms": TOKEN_GAP_S * 1000},
        "studyroom": room,
        "direct": sdk,
        "first_token_overhead_p50_ms": round(
            room["first_token"]["p50_ms"] - sdk["first_token"]["p50_ms"], 3
        ),
        "whole_turn_overhead_p50_ms": round(
            room["whole_turn"]["p50_ms"] - sdk["whole_turn"]["p50_ms"], 3
        ),
    }
