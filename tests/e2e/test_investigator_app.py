"""The investigators' app beyond the journey: a wrong code or passphrase is refused with a plain
message, a reload keeps the session but not the keys (the passphrase unlocks them again, no
second code), an emergency arriving live raises an alarm for whoever is on duty, and a session
that ends elsewhere sends the app back to the login at once.
"""

from __future__ import annotations

import time

import pytest

from gateway.client.reporter import ReporterClient, TipDraft
from gateway.client.transport import Transport
from gateway.crypto import totp
from gateway.web.shutdown import OPEN_SOCKETS
from tests.e2e.browser import LiveGateway
from tests.fixtures.organisation import Organisation

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_wrong_codes_are_refused_the_session_is_a_cookie_and_a_reload_asks_for_the_passphrase(
    *, open_ui_page, enroll_staff, web_ui
) -> None:
    text = web_ui.strings("en")
    member = await enroll_staff("investigator", "triage", display_name="Anna de Vries")
    watched = await open_ui_page("/staff")
    page = watched.page
    await page.locator("#login-form").wait_for(state="visible")
    await page.fill("#login-username", member.username)
    await page.fill("#login-passphrase", member.passphrase)
    now = totp.step_at(time.time())
    valid = {totp.code_for_step(member.totp_secret, step) for step in (now - 1, now, now + 1)}
    await page.fill("#login-totp", next(code for code in ("000000", "111111") if code not in valid))
    await page.click("#login-submit")
    await page.locator("#login-error").wait_for(state="visible")
    assert await page.inner_text("#login-error") == text["error.login_failed"]

    await web_ui.log_in(page, member)
    assert await page.inner_text("#me-name") == "Anna de Vries"
    # The session is an HttpOnly, same-site cookie for the API only; nothing else is kept.
    (cookie,) = await page.context.cookies()
    assert (cookie["name"], cookie["path"], cookie["httpOnly"], cookie["sameSite"]) == (
        "tipline_session",
        "/api",
        True,
        "Strict",
    )
    kept = await page.evaluate(
        "async () => [localStorage.length, sessionStorage.length, document.cookie,"
        " (await indexedDB.databases()).length, (await caches.keys()).length]"
    )
    assert kept == [0, 0, "", 0, 0]
    await page.reload()
    await page.locator("#unlock-form").wait_for(state="visible")
    assert await page.inner_text("#unlock-username") == member.username
    await page.fill("#unlock-passphrase", member.passphrase + " typo")
    await page.click("#unlock-submit")
    await page.locator("#unlock-error").wait_for(state="visible")
    assert await page.inner_text("#unlock-error") == text["error.wrong_passphrase"]
    await page.fill("#unlock-passphrase", member.passphrase)
    await page.click("#unlock-submit")
    await page.locator("#app-section").wait_for(state="visible")
    await web_ui.check(watched, expected_statuses=(401,))


async def test_an_emergency_arriving_live_alarms_the_investigator_on_duty(
    *, open_ui_page, enroll_staff, web_ui, gateway: LiveGateway, organisation: Organisation
) -> None:
    text = web_ui.strings("nl")
    member = await enroll_staff("investigator", "triage")
    watched = await open_ui_page("/staff", locale="nl-NL")
    page = watched.page
    await web_ui.log_in(page, member)
    async with page.expect_response("**/api/v1/me/duty") as duty:
        await page.get_by_label(text["staff.duty.label"]).check()
    assert (await (await duty.value).json())["on_duty"] is True
    async with Transport(gateway.base_url) as transport:
        await ReporterClient(transport, organisation.public_key).submit(
            TipDraft(body="now, at the station", fields={"about": "victim"}, urgent=True)
        )
    alarm = page.locator("#alerts [role=alert]").first
    await alarm.wait_for(state="visible", timeout=15_000)
    assert text["staff.alarm.emergency"] in await alarm.inner_text()
    await alarm.get_by_role("button", name=text["staff.alarm.open"]).click()
    await page.locator("#case-ack").wait_for(state="visible")
    assert (
        await page.locator("#case-thread .message-body").first.inner_text() == "now, at the station"
    )
    await web_ui.check(watched, expected_statuses=(401,))


async def test_a_dropped_socket_reconnects_and_a_session_ended_elsewhere_returns_to_the_login(
    *, open_ui_page, enroll_staff, web_ui, gateway: LiveGateway, organisation: Organisation
) -> None:
    text = web_ui.strings("en")
    member = await enroll_staff("investigator", "triage")
    watched = await open_ui_page("/staff")
    page = watched.page
    await web_ui.log_in(page, member)
    # The gateway drops every socket (as on a restart): the app reconnects and re-reads.
    await page.evaluate(
        """() => { window.liveStates = [];
            new MutationObserver(() => window.liveStates.push(
                document.getElementById('live-state').textContent))
            .observe(document.getElementById('live-state'), { childList: true, subtree: true,
                characterData: true }); }"""
    )
    sockets = gateway.app[OPEN_SOCKETS]
    assert await sockets.close_all() == 1
    sockets.closing = False  # close_all is the shutdown path; this gateway carries on serving
    await page.wait_for_function(
        "(connected) => window.liveStates.length >= 2 && window.liveStates.at(-1) === connected",
        arg=text["staff.live.connected"],
        timeout=15_000,
    )
    states = await page.evaluate("() => window.liveStates")
    assert text["staff.live.reconnecting"] in states
    async with Transport(gateway.base_url) as transport:
        await ReporterClient(transport, organisation.public_key).submit(
            TipDraft(body="after the reconnect", fields={"about": "other"})
        )
    await web_ui.wait_for_thread(page, "#inbox button.case-link", 1)

    # Another tab of the same browser logs out: the live socket closes with 4001.
    other = await page.context.new_page()
    await other.goto(page.url)
    await other.evaluate(
        "() => fetch('/api/v1/auth/logout', { method: 'POST' }).then((r) => r.status)"
    )
    await page.locator("#login-section").wait_for(state="visible", timeout=15_000)
    assert await page.inner_text("#login-notice") == text["staff.session_ended"]
    assert await page.locator("#inbox li").count() == 0
