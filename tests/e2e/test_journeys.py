"""The whole way through, in a real browser, in Dutch and in English, on a 360-pixel phone and on
a desktop: a reporter makes a report, keeps the code, comes back, reads a question, answers and
withdraws; an investigator logs in, sees an emergency arrive, reads and downloads, acknowledges,
triages, assigns, writes a note and asks a question. Screenshots of every step go to
tests/e2e/screenshots/ (git-ignored).
"""

from __future__ import annotations

import pytest

from gateway.client.attachment_files import AttachmentSource
from gateway.client.investigator import InvestigatorClient
from gateway.client.reporter import ReporterClient, TipDraft
from gateway.client.transport import Transport
from gateway.crypto.pickup import PickupCode
from tests.e2e.browser import DESKTOP, PHONE, LiveGateway
from tests.fixtures.organisation import Organisation

pytestmark = pytest.mark.asyncio(loop_scope="session")

LOCALES = {"en": "en-GB", "nl": "nl-NL"}
JOURNEYS = [
    pytest.param("en", PHONE, id="en-360px"),
    pytest.param("nl", PHONE, id="nl-360px"),
    pytest.param("en", DESKTOP, id="en-1280px"),
    pytest.param("nl", DESKTOP, id="nl-1280px"),
]
TIP = {
    "en": "A girl of about 15 is picked up every Friday by an older man in a grey car.",
    "nl": "Een meisje van ongeveer 15 wordt elke vrijdag opgehaald door een oudere man "
    "in een grijze auto.",
}
QUESTION = {
    "en": "Thank you. Do you know the car's licence plate?",
    "nl": "Dank je wel. Weet je het kenteken van de auto?",
}
ANSWER = {"en": "It starts with 12-ABC.", "nl": "Het begint met 12-ABC."}
PHOTO = bytes(range(256)) * 300


async def test_the_reporter_journey(
    *,
    language: str,
    viewport: dict[str, int],
    open_ui_page,
    enroll_staff,
    web_ui,
    gateway: LiveGateway,
    organisation: Organisation,
) -> None:
    text = web_ui.strings(language)
    member = await enroll_staff("investigator", "triage", display_name="Anna de Vries")
    watched = await open_ui_page("/", locale=LOCALES[language], viewport=viewport)
    page = watched.page
    shot = f"journey-reporter-{language}"

    # The landing page explains, in the browser's language, and leads to the form.
    assert await page.inner_text("h1") == text["landing.title"]
    await web_ui.check(watched)
    await watched.screenshot(f"{shot}-1-landing")
    await page.get_by_role("link", name=text["landing.make_report"]).click()
    await page.wait_for_url(f"**/report?lang={language}")

    await page.locator("#tip-form").wait_for(state="visible")
    await web_ui.check(watched)
    await watched.screenshot(f"{shot}-2-form")
    shown = await web_ui.submit_tip(
        page,
        about="victim",
        body=TIP[language],
        location="Utrecht",
        when=text["report.when.hint"][:20],
        files=(("photo 1.jpg", PHOTO),),
    )
    code = PickupCode.parse(shown)
    assert await page.inner_text("#code-heading") == text["report.sent.title"]
    assert text["report.code.warning"] in await page.inner_text("#code-section")
    await web_ui.check(watched)
    await watched.screenshot(f"{shot}-3-code")

    # Done stays disabled until the reporter says the code is kept; then the code is gone.
    assert await page.is_disabled("#code-done")
    await page.get_by_label(text["report.code.saved"]).check()
    await page.click("#code-done")
    await page.wait_for_url(f"**/?lang={language}")
    assert code.normalised[:8] not in (await page.content()).replace("-", "")

    # An investigator reads the tip and asks a question (Python client).
    async with InvestigatorClient(
        gateway.base_url, org_public_key=organisation.public_key
    ) as staff:
        await staff.login(member.username, member.passphrase, member.fresh_code())
        (entry,) = (await staff.inbox()).entries
        thread = await staff.open_case(entry.case_id)
        assert thread.messages[0].body == TIP[language]
        assert thread.messages[0].attachments == ("photo 1.jpg",)
        await staff.ask(entry.case_id, QUESTION[language])

    # The reporter comes back with the code, reads the verified question and answers it.
    await page.get_by_role("link", name=text["landing.have_code"]).click()
    await page.wait_for_url(f"**/return?lang={language}")
    await web_ui.open_case(page, shown)
    assert await page.is_visible("#case-section")
    assert await page.inner_text("#case-status") == text["return.status.received"]
    messages = page.locator("#thread > li")
    assert await messages.count() == 2
    question = messages.nth(1)
    assert await question.locator(".message-body").inner_text() == QUESTION[language]
    assert (
        text["thread.from_hotline"].replace("{name}", "Anna de Vries")
        in await question.inner_text()
    )
    assert "photo 1.jpg" in await messages.nth(0).inner_text()
    await web_ui.check(watched)
    await watched.screenshot(f"{shot}-4-thread")

    await web_ui.reply(page, ANSWER[language], files=(("plate.txt", b"12-ABC-3"),))
    assert await page.is_hidden("#reply-error")
    assert await messages.count() == 3
    assert await messages.nth(2).locator(".message-body").inner_text() == ANSWER[language]

    # Withdrawing asks first, then deletes everything; the code opens nothing any more.
    await page.click("#withdraw-start")
    assert await page.is_visible("#withdraw-confirm")
    await web_ui.check(watched)
    await watched.screenshot(f"{shot}-5-withdraw")
    await page.click("#withdraw-yes")
    await page.locator("#withdrawn-section").wait_for(state="visible")
    assert await page.is_hidden("#case-section")
    assert await page.locator("#thread > li").count() == 0
    await watched.screenshot(f"{shot}-6-withdrawn")
    await page.goto(gateway.url(f"/return?lang={language}"))
    await web_ui.open_case(page, shown)
    assert await page.inner_text("#code-error") == text["error.case_not_found"]
    await web_ui.check(watched, expected_statuses=(404,))


async def test_the_investigator_journey(
    *,
    language: str,
    viewport: dict[str, int],
    open_ui_page,
    enroll_staff,
    web_ui,
    gateway: LiveGateway,
    organisation: Organisation,
) -> None:
    text = web_ui.strings(language)
    member = await enroll_staff("investigator", "triage", display_name="Anna de Vries")
    colleague = await enroll_staff("investigator", display_name="Bram Jansen")
    async with Transport(gateway.base_url) as transport:
        reporter = ReporterClient(transport, organisation.public_key)
        submission = await reporter.submit(
            TipDraft(
                body=TIP[language],
                fields={"about": "pimp", "location": "Rotterdam"},
                attachments=[AttachmentSource.from_bytes("evidence.bin", PHOTO)],
                urgent=True,
            )
        )

        watched = await open_ui_page("/staff", locale=LOCALES[language], viewport=viewport)
        page = watched.page
        shot = f"journey-investigator-{language}"
        await page.locator("#login-form").wait_for(state="visible")
        assert await page.inner_text("#login-heading") == text["staff.login.title"]
        # Without a session yet, the app's first question (GET /api/v1/me) is answered 401.
        await web_ui.check(watched, expected_statuses=(401,))
        await watched.screenshot(f"{shot}-1-login")
        await web_ui.log_in(page, member)

        # The inbox lists the emergency; the case opens with the tip decrypted here.
        cases = page.locator("#inbox button.case-link")
        await cases.first.wait_for()
        assert await cases.count() == 1
        assert text["staff.badge.urgent"] in await cases.first.inner_text()
        case_id = await cases.first.get_attribute("data-case")
        assert case_id is not None
        await web_ui.check(watched, expected_statuses=(401,))
        await watched.screenshot(f"{shot}-2-inbox")
        await web_ui.open_staff_case(page, case_id)
        tip = page.locator("#case-thread > li").first
        assert await tip.locator(".message-body").inner_text() == TIP[language]
        assert text["field.about.pimp"] in await tip.inner_text()
        assert "Rotterdam" in await tip.inner_text()

        # The attachment is downloaded, decrypted and checked in the browser.
        async with page.expect_download() as download_info:
            await tip.get_by_role(
                "button", name=text["staff.download_named"].replace("{name}", "evidence.bin")
            ).click()
        download = await download_info.value
        assert download.suggested_filename == "evidence.bin"
        assert (await download.path()).read_bytes() == PHOTO

        # Acknowledge the emergency, triage, assign, note, ask.
        assert await page.is_visible("#case-ack")
        await page.click("#ack-button")
        await page.locator("#case-ack").wait_for(state="hidden")
        await page.select_option("#status-select", "triage")
        await page.wait_for_function(
            "() => document.getElementById('status-select').value === 'triage'"
        )
        await page.select_option("#assignee-select", colleague.investigator_id)
        await page.wait_for_function(
            "(name) => document.getElementById('case-people').textContent.includes(name)",
            arg="Bram Jansen",
        )
        await page.check("#compose-note")
        await page.fill("#compose-body", "Intern: kenteken opvragen / ask for the plate")
        await page.click("#compose-submit")
        await web_ui.wait_for_thread(page, "#case-thread > li", 2)
        assert await page.locator("#case-thread > li.note").count() == 1
        await page.check("#compose-followup")
        await page.fill("#compose-body", QUESTION[language])
        await page.click("#compose-submit")
        await web_ui.wait_for_thread(page, "#case-thread > li", 3)
        await web_ui.check(watched, expected_statuses=(401,))
        await watched.screenshot(f"{shot}-3-case")

        # A new tip arrives live, without reloading.
        await reporter.submit(TipDraft(body="second tip", fields={"about": "client"}))
        await web_ui.wait_for_thread(page, "#inbox button.case-link", 2)

        # The reporter (Python) reads the question, signed by Anna; never the note.
        thread = await reporter.open_case(submission.code)
        assert [(m.kind, m.author) for m in thread.messages] == [
            ("tip", "you"),
            ("followup", "Anna de Vries"),
        ]
        assert thread.messages[1].content.body == QUESTION[language]
        assert thread.status == "received"

    await page.click("#logout")
    await page.locator("#login-section").wait_for(state="visible")
    assert await page.context.cookies() == []
    assert await page.locator("#case-thread > li").count() == 0
    assert await page.locator("#inbox li").count() == 0
    await web_ui.check(watched, expected_statuses=(401,))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if {"language", "viewport"} <= set(metafunc.fixturenames):
        metafunc.parametrize(("language", "viewport"), JOURNEYS)
