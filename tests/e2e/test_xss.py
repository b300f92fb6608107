"""Tip content is only ever text: markup in a tip, its form answers, an attachment name, a
follow-up, a reply or an investigator's name shows as typed and runs nothing, in the reporter's
page and in the investigators' app. And no script of the UI can write HTML in the first place.
"""

from __future__ import annotations

import pytest

from gateway.client.investigator import InvestigatorClient
from tests.e2e.browser import LiveGateway, WatchedPage
from tests.fixtures.organisation import Organisation

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Each would set window.__xss, open a dialog or create an element if parsed as HTML.
PAYLOADS = (
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=2</script>",
    '"><svg onload=alert(3)>',
    "<iframe srcdoc='<script>parent.__xss=4</script>'></iframe>",
    "javascript:alert(5)",
)
BODY = "\n".join(PAYLOADS)
ATTACHMENT = "<img src=x onerror=alert(6)>.jpg"
MARKUP = "img, script, svg, iframe"


async def record_attacks(watched: WatchedPage) -> list[str]:
    dialogs: list[str] = []

    async def on_dialog(dialog) -> None:  # type: ignore[no-untyped-def]
        dialogs.append(dialog.message)
        await dialog.dismiss()

    watched.page.on("dialog", on_dialog)
    return dialogs


async def assert_inert(watched: WatchedPage, container: str, dialogs: list[str]) -> None:
    page = watched.page
    assert await page.evaluate("() => window.__xss === undefined")
    assert (
        await page.evaluate(
            "(selector) => document.querySelectorAll(selector).length", f"{container} :is({MARKUP})"
        )
        == 0
    )
    assert dialogs == []
    assert watched.csp_violations == []
    assert watched.errors == []


async def test_markup_in_a_tip_a_question_and_file_names_runs_nowhere(
    *,
    open_ui_page,
    enroll_staff,
    web_ui,
    gateway: LiveGateway,
    organisation: Organisation,
) -> None:
    member = await enroll_staff(
        "investigator", "triage", display_name='Eve <img src=x onerror="window.__xss=7">'
    )

    reporter = await open_ui_page("/report")
    reporter_dialogs = await record_attacks(reporter)
    code = await web_ui.submit_tip(
        reporter.page,
        about="other",
        body=BODY,
        location=PAYLOADS[0],
        when=PAYLOADS[2],
        files=((ATTACHMENT, b"not really a photo"),),
    )
    await assert_inert(reporter, "body", reporter_dialogs)

    async with InvestigatorClient(
        gateway.base_url, org_public_key=organisation.public_key
    ) as staff:
        await staff.login(member.username, member.passphrase, member.fresh_code())
        (entry,) = (await staff.inbox()).entries
        await staff.ask(entry.case_id, BODY)

    # The reporter's page: the tip, the question, the author's name and the file name.
    await reporter.page.goto(gateway.url("/return"))
    await web_ui.open_case(reporter.page, code)
    await web_ui.reply(reporter.page, BODY)
    thread = reporter.page.locator("#thread > li")
    assert await thread.count() == 3
    for index in range(3):
        assert await thread.nth(index).locator(".message-body").inner_text() == BODY
    assert ATTACHMENT in await thread.nth(0).inner_text()
    assert PAYLOADS[0] in await thread.nth(0).inner_text()
    assert "Eve <img" in await thread.nth(1).inner_text()
    await assert_inert(reporter, "#thread", reporter_dialogs)

    # The investigators' app: the same content, decrypted there.
    app = await open_ui_page("/staff")
    app_dialogs = await record_attacks(app)
    await web_ui.log_in(app.page, member)
    await web_ui.open_staff_case(app.page, entry.case_id)
    messages = app.page.locator("#case-thread > li")
    assert await messages.count() == 3
    assert [await messages.nth(i).locator(".message-body").inner_text() for i in range(3)] == [
        BODY
    ] * 3
    assert ATTACHMENT in await messages.nth(0).inner_text()
    assert PAYLOADS[2] in await messages.nth(0).inner_text()
    await assert_inert(app, "#main", app_dialogs)
    assert await app.page.inner_text("#me-name") == 'Eve <img src=x onerror="window.__xss=7">'
