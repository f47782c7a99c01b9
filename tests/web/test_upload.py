"""Uploading study material from the page: a progress bar that moves, and clear refusals."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import FilePayload, Page, expect

from tests.web.helpers import PageOpener, room_path, study_room, wait_live

MB = 1024 * 1024
UPLOAD_LIMIT = 4 * MB

# Keeps every value the progress bar takes, in order.
RECORD_PROGRESS = """() => {
  window.progressValues = [];
  const bar = document.getElementById("upload-progress");
  new MutationObserver(() => window.progressValues.push(bar.value))
    .observe(bar, { attributes: true, attributeFilter: ["value"] });
}"""

# The page does not depend on the storage engines; the room tests that do run on both.
pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


def lecture_notes(size: int) -> bytes:
    section = (
        "## Section {n}\n\nA fold combines the elements of a list with a function, carrying "
        "an accumulator from one step to the next. Map, filter and sum are all folds.\n\n"
        "- left folds start at the head\n- right folds start at the tail\n\n"
    )
    parts: list[str] = ["# Lecture notes\n\n"]
    total = len(parts[0])
    n = 0
    while total < size:
        n += 1
        parts.append(section.format(n=n))
        total += len(parts[-1])
    return "".join(parts).encode()


async def choose_and_upload(page: Page, name: str, mime: str, data: bytes) -> None:
    await page.set_input_files(
        "#upload-file", files=[FilePayload(name=name, mimeType=mime, buffer=data)]
    )
    await page.click("#upload-form button[type=submit]")


async def test_an_upload_shows_its_progress_and_the_material_appears(
    make_server: Any, make_learner: Any, open_page: PageOpener
) -> None:
    server = await make_server(upload_max_bytes=UPLOAD_LIMIT)
    ada = await make_learner(server.base_url, "Ada")
    ben = await make_learner(server.base_url, "Ben")
    room = await study_room(ada, ben)
    page = await open_page(server.base_url, ada, room_path(room))
    await wait_live(page)
    # Loopback takes megabytes at once; a link of 4 MB/s lets the body leave in visible steps.
    network = await page.context.new_cdp_session(page)
    await network.send("Network.enable")
    await network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 4 * MB},
    )
    await page.evaluate(RECORD_PROGRESS)
    notes = lecture_notes(2 * MB)
    await choose_and_upload(page, "lecture-notes.md", "text/markdown", notes)

    material = page.locator("#materials .material", has_text="lecture-notes.md")
    await expect(material).to_be_visible(timeout=15_000)
    await expect(material).to_contain_text("Markdown · 2.0 MB")
    await expect(page.locator("#upload-percent")).to_have_text("100%")
    values: list[float] = await page.evaluate("window.progressValues")
    assert values[-1] == 100 and values == sorted(values), values
    assert len({v for v in values if 0 < v < 100}) >= 2, values
    await expect(page.locator("#upload-error")).to_be_hidden()


async def test_too_large_and_unsupported_files_are_refused_clearly(
    make_server: Any, make_learner: Any, open_page: PageOpener
) -> None:
    server = await make_server(upload_max_bytes=MB)
    ada = await make_learner(server.base_url, "Ada")
    ben = await make_learner(server.base_url, "Ben")
    room = await study_room(ada, ben)
    page = await open_page(server.base_url, ada, room_path(room))
    await wait_live(page)
    error = page.locator("#upload-error")

    await choose_and_upload(page, "huge.md", "text/markdown", lecture_notes(2 * MB))
    await expect(error).to_contain_text("That file is too large")
    await expect(error).to_contain_text(str(MB))

    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
    await choose_and_upload(page, "diagram.png", "image/png", png)
    await expect(error).to_contain_text("That file cannot be used")
    await expect(page.locator("#materials .material")).to_have_count(0)

    # Only the topic's owner may add materials; a member is told so instead of offered a form.
    guest = await open_page(server.base_url, ben, room_path(room))
    await wait_live(guest)
    await expect(guest.locator("#upload-form")).to_be_hidden()
    await expect(guest.locator("#upload-owner-only")).to_be_visible()


async def test_the_list_follows_uploads_and_deletions_made_elsewhere(
    make_server: Any, make_learner: Any, open_page: PageOpener, tmp_path: Any
) -> None:
    server = await make_server()
    ada = await make_learner(server.base_url, "Ada")
    ben = await make_learner(server.base_url, "Ben")
    room = await study_room(ada, ben)
    page = await open_page(server.base_url, ben, room_path(room))
    await wait_live(page, members=1)
    await expect(page.locator("#materials .empty")).to_have_text("No materials yet.")
    # Ada uploads from somewhere else (another device, the terminal): Ben's page follows.
    notes = tmp_path / "folds.md"
    notes.write_bytes(lecture_notes(2_000))
    material = await ada.client.upload(room.topic_id, notes)
    listed = page.locator("#materials .material", has_text="folds.md")
    await expect(listed).to_be_visible()
    await expect(page.locator("#timeline .note-material")).to_contain_text("New material: folds.md")
    await ada.client.delete_material(material.id)
    await expect(listed).to_have_count(0)
    await expect(page.locator("#materials .empty")).to_have_text("No materials yet.")
