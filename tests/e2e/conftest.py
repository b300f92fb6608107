"""Browser fixtures: Debian's Chromium (Playwright) against a live gateway on 127.0.0.1.

The suite fails, never skips, when Chromium or libsodium.js is missing: `make install` (and so
`make test` and CI) installs both. The gateway runs on the embedded backend: the browser side
does not depend on which database or broker the server uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser

from gateway.config import Settings
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
