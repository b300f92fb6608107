"""Nothing of a report stays behind: the reporter's pages keep nothing in any storage the page
can reach (cookies, localStorage, sessionStorage, IndexedDB, Cache Storage) while they work, and
after the reporter leaves — by another page, the back button or closing the tab — the code, the
text and the case are gone from the page as well.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page

from gateway.client.investigator import InvestigatorClient
from tests.e2e.browser import PHONE, LiveGateway
from tests.fixtures.organisation import Organisation

pytestmark = pytest.mark.asyncio(loop_scope="session")

TIP = "storage canary: a man called Kees on the Oudegracht"

STORAGE = """async () => ({
    local: localStorage.length,
    session: sessionStorage.length,
    databases: (await indexedDB.databases()).map((db) => db.name),
    caches: await caches.keys(),
    cookie: document.cookie,
})"""
EMPTY = {"local": 0, "session": 0, "databases": [], "caches": [], "cookie": ""}


async def storage_of(page: Page) -> dict[str, Any]:
    stored: dict[str, Any] = await page.evaluate(STORAGE)
    return stored


async def assert_nothing_kept(context: BrowserContext, page: Page) -> None:
    assert await storage_of(page) == EMPTY
    assert await context.cookies() == []
    state = await context.storage_state()
    assert state["cookies"] == []
    assert all(origin["localStorage"] == [] for origin in state["origins"])


async def test_a_report_leaves_nothing_in_the_browser_after_the_reporter_leaves(
    *,
    open_ui_page,
    enroll_staff,
    web_ui,
    gateway: LiveGateway,
    organisation: Organisation,
) -> None:
    member = await enroll_staff("investigator", "triage")
    watched = await open_ui_page("/report", viewport=PHONE)
    page, context = watched.page, watched.page.context
    code = await web_ui.submit_tip(page, body=TIP, files=(("kees.jpg", b"\xff\xd8 canary"),))
    # While the code is on the screen: nothing stored anywhere.
    await assert_nothing_kept(context, page)

    # Leaving for another page, then coming back with "back": an empty form, no code.
    await page.goto(gateway.url("/"))
    await assert_nothing_kept(context, page)
    await page.go_back()
    await page.wait_for_url("**/report")
    await page.locator("#tip-form").wait_for(state="visible")
    assert await page.is_hidden("#code-section")
    assert await page.input_value("#tip-body") == ""
    html = await page.content()
    assert TIP not in html
    assert code.split()[0].strip("-") not in html

    # The case opened with the code, then the tab closed: a new tab finds nothing.
    async with InvestigatorClient(
        gateway.base_url, org_public_key=organisation.public_key
    ) as staff:
        await staff.login(member.username, member.passphrase, member.fresh_code())
        (entry,) = (await staff.inbox()).entries
        await staff.ask(entry.case_id, "storage canary question")
    back = await open_ui_page("/return", context=context)
    await web_ui.open_case(back.page, code)
    assert TIP in await back.page.inner_text("#thread")
    await assert_nothing_kept(context, back.page)
    await back.page.close()
    again = await open_ui_page("/return", context=context)
    await again.page.locator("#code-form").wait_for(state="visible")
    await assert_nothing_kept(context, again.page)
    assert await again.page.input_value("#code-input") == ""
    assert TIP not in await again.page.content()

    # "Close my report" wipes the case from the page without leaving it.
    await web_ui.open_case(again.page, code)
    await again.page.click("#case-close")
    assert await again.page.locator("#thread > li").count() == 0
    assert TIP not in await again.page.content()
    assert "storage canary question" not in await again.page.content()
    await assert_nothing_kept(context, again.page)
    await web_ui.check(again)
