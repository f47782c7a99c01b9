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


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_bundled_model_answers_in_a_room_of_long_messages(
    make_server: Any, make_kit: Any
) -> None:
    # Three messages at the length limit are far more than the model's 2,048 tokens.
    server = await make_server(tutor_provider="local", tutor_max_tokens=24)
    kit = make_kit(server.base_url)
    alice, bob = await kit.person("alice"), await kit.person("bob")
    session = await kit.session(alice, bob)
    a, b = await kit.connect(alice, session), await kit.connect(bob, session)
    for i, conn in enumerate((a, b, a)):
        text = f"note {i}: " + "the cell membrane controls what enters and leaves " * 78
        await conn.send({"type": "chat", "text": text[:4000]})
        await b.until(lambda f, t=text[:4000]: f.get("type") == "chat" and f["text"] == t)
    for question in ("What does the membrane do?", "And what else?"):
        done, deltas = await ask_and_wait(a, question)
        assert done["type"] == "agent.done", done
        assert "".join(d["text"] for d in deltas) == done["text"]
        assert done["usage"]["tokens_in"] <= 2048


HYGIENE_PROMPTS = ("Hello, who are you?", "What do cells need?", "Greet everyone in the room.")


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_bundled_model_answers_carry_no_label_or_passage_marker(
    make_server: Any, make_kit: Any
) -> None:
    server = await make_server(tutor_provider="local", tutor_max_tokens=40)
    kit = make_kit(server.base_url)
    alice, bob = await kit.person("alice"), await kit.person("bob")
    topic = await kit.topic(alice, "Cells")
    notes = "# Cells\n\nCells need energy, water and nutrients. Mitochondria make ATP.\n"
    uploaded = await kit.http.post(
        f"/api/topics/{topic}/materials",
        files={"file": ("cells.md", notes.encode(), "text/markdown")},
        headers=alice.auth,
    )
    assert uploaded.status_code == 201, uploaded.text
    session = await kit.session(alice, bob, topic=topic)
    a = await kit.connect(alice, session)
    await kit.connect(bob, session)
    names = {alice.name.lower(), bob.name.lower(), "tutor", "assistant"}
    for prompt in HYGIENE_PROMPTS:
        done, deltas = await ask_and_wait(a, prompt)
        assert done["type"] == "agent.done", done
        assert "".join(d["text"] for d in deltas) == done["text"]
        assert not any("passage" in d["text"].lower() for d in deltas), deltas
        head = done["text"].lstrip().lower()
        assert not any(head.startswith(f"{name}:") for name in names), done["text"]
