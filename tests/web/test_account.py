"""The account view: a new name, a new password, a download of one's data, logging out and
deleting the account, all through the page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from clients.sdk.errors import ApiError
from tests.web.conftest import PASSWORD
from tests.web.helpers import Learner, PageOpener

pytestmark = pytest.mark.parametrize("backend", ["embedded"], indirect=True)

NEW_PASSWORD = "a longer passphrase, changed"


async def test_rename_change_password_export_log_out_and_delete(
    server: Any, make_learner: Any, open_page: PageOpener
) -> None:
    # Its own learner: this one is deleted at the end.
    quinn: Learner = await make_learner(server.base_url, "Quinn Leaving")
    page = await open_page(server.base_url, quinn)
    await page.click("#account-link")
    await expect(page.locator("#view-account")).to_be_visible()
    await expect(page.locator("#account-username")).to_have_text(quinn.user.username)

    await page.fill("#account-name", "Quinn Q.")
    await page.click("#name-form button[type=submit]")
    await expect(page.locator("#name-ok")).to_contain_text("Saved")
    await expect(page.locator("#whoami")).to_have_text("Quinn Q.")
    assert (await quinn.client.me()).display_name == "Quinn Q."

    async with page.expect_download() as download_info:
        await page.click("#export-data")
    download = await download_info.value
    assert download.suggested_filename.startswith(f"studyroom-{quinn.user.username}-")
    assert download.suggested_filename.endswith(".json")
    exported = json.loads(Path(await download.path()).read_text(encoding="utf-8"))
    assert exported["user"]["username"] == quinn.user.username
    assert exported["user"]["display_name"] == "Quinn Q."

    await page.fill("#account-current-password", "not my password")
    await page.fill("#account-new-password", NEW_PASSWORD)
    await page.click("#password-form button[type=submit]")
    await expect(page.locator("#password-error")).to_have_text("The current password is wrong.")
    await page.fill("#account-current-password", PASSWORD)
    await page.fill("#account-new-password", NEW_PASSWORD)
    await page.click("#password-form button[type=submit]")
    await expect(page.locator("#password-ok")).to_have_text("Password changed.")

    # Logging out ends the token on the server, not only in the page.
    await page.click("#account-logout")
    await expect(page.locator("#view-auth")).to_be_visible()
    with pytest.raises(ApiError) as refused:
        await quinn.client.me()
    assert refused.value.status == 401

    await page.fill("#login-username", quinn.user.username)
    await page.fill("#login-password", NEW_PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#whoami")).to_have_text("Quinn Q.")

    await page.click("#account-link")
    await page.fill("#delete-password", NEW_PASSWORD)
    await page.click("#delete-form button[type=submit]")
    await expect(page.locator("#delete-error")).to_have_text("Tick the box to confirm.")
    await page.check("#delete-confirm")
    await page.fill("#delete-password", "not my password")
    await page.click("#delete-form button[type=submit]")
    await expect(page.locator("#delete-error")).to_have_text(
        "That password is wrong; nothing was deleted."
    )
    await page.fill("#delete-password", NEW_PASSWORD)
    await page.click("#delete-form button[type=submit]")
    await expect(page.locator("#view-auth")).to_be_visible()
    await expect(page.locator("#toasts")).to_contain_text("Your account was deleted.")
    assert await page.evaluate("localStorage.getItem('studyroom.token')") is None

    await page.fill("#login-username", quinn.user.username)
    await page.fill("#login-password", NEW_PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
