"""Browser fixtures: Debian's Chromium (Playwright) against a live gateway on 127.0.0.1.

The suite fails, never skips, when Chromium or libsodium.js is missing: `make install` (and so
`make test` and CI) installs both. The gateway runs on the embedded backend: the browser side
does not depend on which database or broker the server uses.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page

from gateway.client.investigator import prepare_enrollment
from gateway.config import Settings
from gateway.crypto import totp
from gateway.crypto.directory import sign_entry
from gateway.crypto.keybundle import parse_key_bundle
from gateway.crypto.keys import InvestigatorKeys
from gateway.domain.enrollment import EnrollmentForm, create_invite, enroll
from gateway.domain.sessions import SessionBook
from gateway.domain.vetting import record_entry
from gateway.web.keys import HOTLINE, SETTINGS
from gateway.web.static import UI_DIR
from tests.e2e.browser import (
    DESKTOP,
    LiveGateway,
    PageOpener,
    WatchedPage,
    chromium,
    live_gateway,
    open_page,
    setup_problems,
)
from tests.fixtures.app import make_settings
from tests.fixtures.organisation import Organisation


@pytest.fixture
def database_backend() -> str:
    return "embedded"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, organisation: Organisation) -> Settings:
    """Pins the test organisation; proof of work at 12 bits, real work but quick."""
    return make_settings(
        tmp_path,
        database_url,
        redis_prefix=None,
        org_public_key=organisation.public_key_text,
        pow_difficulty="12",
    )


# The browser tests run in the session's event loop (pytestmark in each module): one Chromium
# serves the whole run, so a test pays for a fresh context and page, not for a browser start.


@pytest_asyncio.fixture(loop_scope="session")
async def gateway(settings: Settings) -> AsyncIterator[LiveGateway]:
    async with live_gateway(settings) as live:
        yield live


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    problems = setup_problems()
    if problems:
        pytest.fail("browser tests cannot run: " + "; ".join(problems), pytrace=False)
    async with chromium() as launched:
        yield launched


@pytest_asyncio.fixture(loop_scope="session")
async def open_gateway_page(browser: Browser, gateway: LiveGateway) -> AsyncIterator[PageOpener]:
    """Open a gateway path (or any URL) in a fresh browser context; all closed after the test."""
    opened: list[WatchedPage] = []

    async def opener(
        path: str, *, viewport: dict[str, int] = DESKTOP, wait_for: str | None = None
    ) -> WatchedPage:
        url = gateway.url(path) if path.startswith("/") else path
        watched = await open_page(browser, url, viewport=viewport, wait_for=wait_for)
        opened.append(watched)
        return watched

    yield opener
    for watched in opened:
        await watched.page.context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def harness(open_gateway_page: PageOpener) -> WatchedPage:
    """A page with the protocol modules loaded as window.protocol, for page.evaluate."""
    return await open_gateway_page("/e2e/harness.html", wait_for="window.harnessReady")


# ---------------------------------------------------------------- people and pages of the web UI


@dataclass
class StaffMember:
    """An investigator enrolled with a real passphrase and TOTP secret, and vetted: what a
    person logging in through the browser (or the Python client) needs."""

    investigator_id: str
    username: str
    display_name: str
    passphrase: str = field(repr=False)
    totp_secret: bytes = field(repr=False)
    keys: InvestigatorKeys = field(repr=False)
    used_steps: set[int] = field(default_factory=set)

    def fresh_code(self) -> str:
        """A TOTP code of a time step not used yet (each step logs in once)."""
        now = totp.step_at(time.time())
        for step in (now, now + 1, now - 1):
            if step not in self.used_steps:
                self.used_steps.add(step)
                return totp.code_for_step(self.totp_secret, step)
        raise AssertionError("three logins in one 30-second step: no unused code left")


StaffFactory = Callable[..., Awaitable[StaffMember]]
# open_ui_page: path, locale=, viewport=, context=, **context options -> WatchedPage.
UiPageOpener = Callable[..., Awaitable[WatchedPage]]


@pytest_asyncio.fixture(loop_scope="session")
async def enroll_staff(gateway: LiveGateway, organisation: Organisation) -> StaffFactory:
    """`await enroll_staff("triage", display_name=...)`: enrolled (invite, real Argon2id bundle,
    confirmed TOTP) and vetted with a signed entry, through the domain code the endpoints use."""
    hotline = gateway.app[HOTLINE]
    settings = gateway.app[SETTINGS]

    async def enroll_one(*roles: str, display_name: str = "Test Investigator") -> StaffMember:
        roles = roles or ("investigator",)
        username = f"staff-{secrets.token_hex(4)}"
        passphrase = f"correct horse {secrets.token_hex(4)} battery"
        draft = await asyncio.to_thread(prepare_enrollment, username, passphrase)
        invite = await create_invite(hotline, roles=roles, created_by=None)
        step = totp.step_at(time.time())
        enrolled = await enroll(
            hotline,
            EnrollmentForm(
                invite_token=invite.token,
                username=username,
                display_name=display_name,
                enc_public_key=draft.keys.enc.public,
                sig_public_key=draft.keys.sig.public,
                key_bundle=parse_key_bundle(dict(draft.key_bundle)),
                auth_key=draft.login.auth_key,
                totp_secret=draft.totp_secret,
                totp_code=totp.code_for_step(draft.totp_secret, step),
            ),
        )
        investigator_id = str(enrolled.investigator.id)
        directory = await hotline.directory.current()
        entry = directory.add_entry(
            investigator_id=investigator_id,
            name=display_name,
            roles=tuple(sorted(roles)),
            enc_pk=draft.keys.enc.public,
            sig_pk=draft.keys.sig.public,
            not_after=int(time.time()) + 365 * 24 * 3600,
        )
        sessions = SessionBook(
            hotline.broker,
            hotline.database,
            hotline.directory,
            idle_seconds=settings.session_idle_seconds,
            absolute_seconds=settings.session_absolute_seconds,
        )
        await record_entry(hotline, sessions, sign_entry(organisation.key, entry))
        return StaffMember(
            investigator_id=investigator_id,
            username=username,
            display_name=display_name,
            passphrase=passphrase,
            totp_secret=draft.totp_secret,
            keys=draft.keys,
            used_steps={step},
        )

    return enroll_one


@pytest_asyncio.fixture(loop_scope="session")
async def open_ui_page(browser: Browser, gateway: LiveGateway) -> AsyncIterator[UiPageOpener]:
    """Open a page of the web UI in a fresh context with a language (`locale`, which sets
    Accept-Language) and a viewport; contexts are closed after the test. Extra context options
    (e.g. java_script_enabled=False) pass through."""
    contexts: list[BrowserContext] = []

    async def opener(
        path: str,
        *,
        locale: str = "en-GB",
        viewport: dict[str, int] = DESKTOP,
        context: BrowserContext | None = None,
        **options: Any,
    ) -> WatchedPage:
        if context is None:
            context = await browser.new_context(viewport=viewport, locale=locale, **options)  # type: ignore[arg-type]
            contexts.append(context)
        page = await context.new_page()
        watched = WatchedPage(page)
        page.on("console", watched.on_console)
        page.on("pageerror", lambda error: watched.errors.append(str(error)))
        await page.goto(gateway.url(path))
        return watched

    yield opener
    for context in contexts:
        await context.close()


class WebUi:
    """Steps of the reporter's and the investigator's pages, as a person takes them (labels,
    buttons, keyboard), shared by the journey, cross-client, XSS and storage tests."""

    # Argon2id, proofs of work and a few round trips: seconds, not minutes.
    STEP_TIMEOUT_MS = 30_000

    async def submit_tip(
        self,
        page: Page,
        *,
        body: str,
        about: str = "victim",
        location: str = "",
        when: str = "",
        files: tuple[tuple[str, bytes], ...] = (),
        urgent: bool = False,
    ) -> str:
        """Fill in /report and send it; returns the pickup code as shown (groups with dashes)."""
        await page.locator("#tip-form").wait_for(state="visible", timeout=self.STEP_TIMEOUT_MS)
        await page.check(f"#about-{about}")
        await page.fill("#tip-body", body)
        if location:
            await page.fill("#tip-location", location)
        if when:
            await page.fill("#tip-when", when)
        if files:
            await page.set_input_files(
                "#tip-files",
                files=[
                    {"name": name, "mimeType": "application/octet-stream", "buffer": data}
                    for name, data in files
                ],
            )
        if urgent:
            await page.check("#tip-urgent")
        await page.click("#tip-submit")
        code = page.locator("#pickup-code")
        await code.wait_for(state="visible", timeout=self.STEP_TIMEOUT_MS)
        return await code.inner_text()

    async def open_case(self, page: Page, code: str) -> None:
        """Type the code on /return and wait for the case (or an error) to show."""
        await page.locator("#code-form").wait_for(state="visible", timeout=self.STEP_TIMEOUT_MS)
        await page.fill("#code-input", code)
        await page.click("#code-submit")
        await page.wait_for_function(
            "() => !document.getElementById('case-section').hidden"
            " || !document.getElementById('code-error').hidden",
            timeout=self.STEP_TIMEOUT_MS,
        )

    async def reply(self, page: Page, text: str, files: tuple[tuple[str, bytes], ...] = ()) -> None:
        await page.fill("#reply-body", text)
        if files:
            await page.set_input_files(
                "#reply-files",
                files=[
                    {"name": name, "mimeType": "application/octet-stream", "buffer": data}
                    for name, data in files
                ],
            )
        await page.click("#reply-submit")
        # The click ran the handler up to its first await: the button stays disabled until done.
        await page.wait_for_function(
            "() => !document.getElementById('reply-submit').disabled"
            " && (!document.getElementById('reply-error').hidden"
            " || !document.getElementById('reply-status').hidden)",
            timeout=self.STEP_TIMEOUT_MS,
        )

    async def log_in(self, page: Page, member: StaffMember) -> None:
        """Log in on /staff with username, passphrase and a fresh TOTP code; wait for the inbox."""
        await page.locator("#login-form").wait_for(state="visible", timeout=self.STEP_TIMEOUT_MS)
        await page.fill("#login-username", member.username)
        await page.fill("#login-passphrase", member.passphrase)
        await page.fill("#login-totp", member.fresh_code())
        await page.click("#login-submit")
        await page.locator("#app-section").wait_for(state="visible", timeout=self.STEP_TIMEOUT_MS)
        await page.wait_for_function(
            "() => document.getElementById('live-state').classList.contains('connected')",
            timeout=self.STEP_TIMEOUT_MS,
        )

    async def open_staff_case(self, page: Page, case_id: str) -> None:
        """Open a case from the inbox (it must be listed) and wait for its thread."""
        button = page.locator(f'button.case-link[data-case="{case_id}"]')
        await button.wait_for(state="visible", timeout=self.STEP_TIMEOUT_MS)
        await button.click()
        await page.wait_for_function(
            "(id) => document.querySelector('#case-heading').textContent.includes(id.slice(0, 8))"
            " && document.querySelectorAll('#case-thread li').length > 0",
            arg=case_id,
            timeout=self.STEP_TIMEOUT_MS,
        )

    async def wait_for_thread(self, page: Page, selector: str, count: int) -> None:
        await page.wait_for_function(
            "([selector, count]) => document.querySelectorAll(selector).length >= count",
            arg=[selector, count],
            timeout=self.STEP_TIMEOUT_MS,
        )

    @staticmethod
    def strings(language: str) -> dict[str, str]:
        """The UI's texts in one language, as gateway/web/ui/i18n/<language>.json holds them."""
        loaded: dict[str, str] = json.loads(
            (UI_DIR / "i18n" / f"{language}.json").read_text(encoding="utf-8")
        )
        return loaded

    async def check(self, watched: WatchedPage, *, expected_statuses: tuple[int, ...] = ()) -> None:
        """What every page must be at every step: no script error, no CSP violation, no console
        error (but the browser's note of an HTTP status the step expects, e.g. a wrong code's
        404), no missing text, and no sideways scrolling (360-pixel phones included)."""
        assert watched.errors == []
        assert watched.csp_violations == []
        expected = tuple(
            f"the server responded with a status of {status}" for status in expected_statuses
        )
        assert [
            text for text in watched.console_errors if not any(note in text for note in expected)
        ] == []
        text = await watched.page.inner_text("body")
        assert "{{" not in text
        assert re.search(r"\[[a-z_]+\.[a-z_.]+\]", text) is None, "a text key without translation"
        overflow = await watched.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, "the page scrolls sideways"


@pytest.fixture
def web_ui() -> WebUi:
    return WebUi()
