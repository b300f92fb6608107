"""The browser and the Python clients read each other: a tip sent from the reporter's page is
read (and its attachment downloaded and checked) with the Python InvestigatorClient, whose
question the reporter reads in the browser with the code; a reply from the Python ReporterClient
is read in the investigators' app, whose question the Python reporter verifies. And the page
refuses what does not verify: a question with a broken signature, a directory under another key.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Route

from gateway.client.attachment_files import save_decrypted
from gateway.client.investigator import InvestigatorClient
from gateway.client.reporter import ReporterClient, TipDraft
from gateway.client.transport import Transport
from gateway.crypto.directory import Directory, sign_entry
from gateway.crypto.encoding import b64decode, b64encode
from gateway.crypto.envelope import open_as, parse_envelope
from gateway.crypto.keys import InvestigatorKeys
from tests.e2e.browser import LiveGateway
from tests.fixtures.organisation import Organisation

pytestmark = pytest.mark.asyncio(loop_scope="session")

ATTACHMENT = bytes(range(251)) * 700  # more than two stream chunks


async def test_a_tip_from_the_browser_is_read_in_python_and_a_python_question_in_the_browser(
    *,
    open_ui_page,
    enroll_staff,
    web_ui,
    gateway: LiveGateway,
    organisation: Organisation,
    tmp_path: Path,
) -> None:
    member = await enroll_staff("investigator", "triage", display_name="Anna de Vries")
    watched = await open_ui_page("/report")
    code = await web_ui.submit_tip(
        watched.page,
        about="client",
        body="Zoë saw it ☕ 𝄞 on the 3rd",
        location="Den Haag",
        when="gisteren",
        files=(("scan 1.pdf", ATTACHMENT),),
        urgent=True,
    )

    async with InvestigatorClient(
        gateway.base_url, org_public_key=organisation.public_key
    ) as staff:
        await staff.login(member.username, member.passphrase, member.fresh_code())
        (entry,) = (await staff.inbox()).entries
        assert entry.urgent
        thread = await staff.open_case(entry.case_id)
        (tip,) = thread.messages
        assert (tip.kind, tip.body, tip.problem) == ("tip", "Zoë saw it ☕ 𝄞 on the 3rd", None)
        assert dict(tip.fields) == {"about": "client", "location": "Den Haag", "when": "gisteren"}
        assert tip.attachments == ("scan 1.pdf",)

        # The attachment the browser encrypted downloads and checks out with the Python code.
        headers = {"Authorization": f"Session {staff.session_token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(gateway.url(f"/api/v1/cases/{entry.case_id}")) as answer:
                wire = (await answer.json())["messages"][0]["envelope"]
            (ref,) = open_as(parse_envelope(wire), member.keys.enc).attachments
            url = gateway.url(f"/api/v1/cases/{entry.case_id}/attachments/{ref.id}")
            async with http.get(url) as download:
                assert download.status == 200
                saved = await save_decrypted(ref, download.content.iter_chunked(65536), tmp_path)
        assert saved.read_bytes() == ATTACHMENT
        await staff.ask(entry.case_id, "Welke auto? Which car?")

        # The reporter reads the question in the browser and answers; Python reads the answer.
        await watched.page.goto(gateway.url("/return"))
        await web_ui.open_case(watched.page, code)
        question = watched.page.locator("#thread > li").nth(1)
        assert await question.locator(".message-body").inner_text() == "Welke auto? Which car?"
        assert "Anna de Vries" in await question.inner_text()
        await web_ui.reply(watched.page, "Een rode Golf / a red Golf")
        thread = await staff.open_case(entry.case_id)
        assert [(m.kind, m.body) for m in thread.messages[1:]] == [
            ("followup", "Welke auto? Which car?"),
            ("reply", "Een rode Golf / a red Golf"),
        ]
    await web_ui.check(watched)


async def test_a_python_reply_is_read_in_the_staff_app_and_its_question_verified_in_python(
    *,
    open_ui_page,
    enroll_staff,
    web_ui,
    gateway: LiveGateway,
    organisation: Organisation,
) -> None:
    member = await enroll_staff("investigator", "triage", display_name="Anna de Vries")
    async with Transport(gateway.base_url) as transport:
        reporter = ReporterClient(transport, organisation.public_key)
        submission = await reporter.submit(TipDraft(body="python tip", fields={"about": "victim"}))

        app = await open_ui_page("/staff")
        await web_ui.log_in(app.page, member)
        case_id = await app.page.locator("#inbox button.case-link").first.get_attribute("data-case")
        assert case_id is not None
        await web_ui.open_staff_case(app.page, case_id)
        thread = app.page.locator("#case-thread > li")
        assert await thread.first.locator(".message-body").inner_text() == "python tip"
        await app.page.fill("#compose-body", "Vraag uit de browser")
        await app.page.click("#compose-submit")
        await web_ui.wait_for_thread(app.page, "#case-thread > li", 2)

        # The Python reporter verifies the browser's signature against the directory, and answers.
        case = await reporter.open_case(submission.code)
        assert case.withheld == ()
        assert [(m.kind, m.author, m.content.body) for m in case.messages] == [
            ("tip", "you", "python tip"),
            ("followup", "Anna de Vries", "Vraag uit de browser"),
        ]
        await reporter.reply(case, "Antwoord uit Python")

    # The open case shows the reply live (an event, then a re-read), without reloading.
    await web_ui.wait_for_thread(app.page, "#case-thread > li", 3)
    assert await thread.nth(2).locator(".message-body").inner_text() == "Antwoord uit Python"
    await web_ui.check(app, expected_statuses=(401,))  # GET /api/v1/me before the login


async def test_the_reporter_page_withholds_a_question_whose_signature_does_not_verify(
    *,
    open_ui_page,
    enroll_staff,
    web_ui,
    gateway: LiveGateway,
    organisation: Organisation,
) -> None:
    member = await enroll_staff("investigator", "triage")
    async with Transport(gateway.base_url) as transport:
        submission = await ReporterClient(transport, organisation.public_key).submit(
            TipDraft(body="a tip", fields={"about": "other"})
        )
    async with InvestigatorClient(
        gateway.base_url, org_public_key=organisation.public_key
    ) as staff:
        await staff.login(member.username, member.passphrase, member.fresh_code())
        (entry,) = (await staff.inbox()).entries
        await staff.ask(entry.case_id, "genuine question")
        await staff.ask(entry.case_id, "tampered question")

    async def tamper(route: Route) -> None:
        answer = await route.fetch()
        case = json.loads(await answer.text())
        envelope = case["messages"][2]["envelope"]
        signature = bytearray(b64decode(envelope["signature"], what="signature"))
        signature[0] ^= 1
        envelope["signature"] = b64encode(bytes(signature))
        await route.fulfill(response=answer, body=json.dumps(case))

    watched = await open_ui_page("/return")
    await watched.page.route("**/api/v1/reporter/case", tamper)
    await web_ui.open_case(watched.page, submission.code.display())
    bodies = await watched.page.locator("#thread .message-body").all_inner_texts()
    assert bodies == ["a tip", "genuine question"]
    assert await watched.page.is_visible("#withheld")
    assert "1" in await watched.page.inner_text("#withheld")
    assert "tampered question" not in await watched.page.content()
    await web_ui.check(watched)


async def test_a_directory_under_another_organisation_key_stops_the_report_before_anything_is_sent(
    *, open_ui_page, enroll_staff, web_ui
) -> None:
    await enroll_staff("investigator", "triage")
    impostor = Organisation()
    keys = InvestigatorKeys.generate()
    entry = Directory.empty(impostor.public_key).add_entry(
        investigator_id="mallory",
        name="Mallory",
        roles=("triage",),
        enc_pk=keys.enc.public,
        sig_pk=keys.sig.public,
        not_after=int(time.time()) + 3600,
    )
    forged = Directory.empty(impostor.public_key).extend(sign_entry(impostor.key, entry))
    sent: list[str] = []

    page_watch = await open_ui_page("/report")
    page = page_watch.page

    async def serve_forged(route: Route) -> None:
        await route.fulfill(json=forged.to_json())

    await page.route("**/api/v1/directory", serve_forged)
    page.on(
        "request", lambda request: sent.append(request.url) if request.method == "POST" else None
    )
    await page.reload()
    await page.locator("#tip-form").wait_for(state="visible")
    text = web_ui.strings("en")
    await page.wait_for_function(
        "(message) => document.getElementById('tip-error').textContent === message",
        arg=text["error.directory"],
    )
    await page.check("#about-victim")
    await page.fill("#tip-body", "this must not leave the browser")
    await page.click("#tip-submit")
    await page.wait_for_function("() => !document.getElementById('tip-submit').disabled")
    assert await page.inner_text("#tip-error") == text["error.directory"]
    assert await page.is_hidden("#code-section")
    assert sent == []
