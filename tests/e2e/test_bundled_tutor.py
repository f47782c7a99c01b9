"""The bundled offline model answers in real rooms: in-process, and behind llama_cpp.server."""

from __future__ import annotations

from typing import Any

import pytest

from server.tutor.local_provider import bundled_model_path
from tests.fakes.llama_server import llama_server


async def ask_and_wait(conn: Any, text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    await conn.send({"type": "ask", "text": text})
    asked = await conn.until(lambda f: f.get("type") == "ask")
    end = await conn.until(
        lambda f: (
            f.get("turn_id") == asked["turn_id"] and f["type"] in ("agent.done", "agent.error")
        ),
        timeout=60,
    )
    deltas = [
        e
        for e in conn.events
        if e.get("turn_id") == asked["turn_id"] and e["type"] == "agent.delta"
    ]
    return end, deltas


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_bundled_model_answers_in_process(make_server: Any, make_kit: Any) -> None:
    server = await make_server(tutor_provider="local", tutor_max_tokens=48)
    kit = make_kit(server.base_url)
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    a, b = await kit.connect(alice, session), await kit.connect(bob, session)
    done, deltas = await ask_and_wait(a, "What do plants need to grow?")
    assert done["type"] == "agent.done", done
    assert done["text"].strip() and done["model"].startswith("SmolLM2")
    assert "".join(d["text"] for d in deltas) == done["text"]
    assert done["usage"]["tokens_out"] > 0
    # Bob, in the same room, saw the same answer.
    seen = await b.seen(lambda f: f.get("turn_id") == done["turn_id"] and f["type"] == "agent.done")
    assert seen == done


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_bundled_model_behind_llama_cpp_server(
    make_server: Any, make_kit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with llama_server(bundled_model_path()) as llama:
        monkeypatch.setenv("OPENAI_API_KEY", "local")
        monkeypatch.setenv("OPENAI_BASE_URL", llama.base_url)
        server = await make_server(
            tutor_provider="openai", tutor_model=llama.model, tutor_max_tokens=48
        )
        kit = make_kit(server.base_url)
        alice = await kit.person("alice")
        session = await kit.session(alice)
        a = await kit.connect(alice, session)
        done, deltas = await ask_and_wait(a, "Name one planet.")
    assert done["type"] == "agent.done", done
    assert done["text"].strip() and done["model"] == llama.model
    assert "".join(d["text"] for d in deltas) == done["text"]


async def test_serve_with_no_key_answers_with_the_bundled_model(
    embedded_backend: Any, spawn: Any, make_kit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    proc = spawn(
        embedded_backend.env(STUDYROOM_TUTOR_PROVIDER="auto", STUDYROOM_TUTOR_MAX_TOKENS="32")
    )
    kit = make_kit(proc.base_url)
    alice = await kit.person("alice")
    session = await kit.session(alice)
    a = await kit.connect(alice, session)
    done, _ = await ask_and_wait(a, "Say hello.")
    assert done["type"] == "agent.done", done
    assert done["text"].strip() and done["model"].startswith("SmolLM2")
