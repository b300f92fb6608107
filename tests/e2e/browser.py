"""What the browser tests share: launching Debian's Chromium, a live gateway with the test pages,
and pages that record every console message, page error and CSP violation.

Used by the fixtures in conftest.py and by measure_costs.py (which runs outside pytest).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from gateway.config import Settings
from gateway.web.app import create_app
from gateway.web.static import UI_DIR, load_vendor_modules

CHROMIUM: Final = Path("/usr/bin/chromium")
# No sandbox: the tests run as root in a container; the rest keeps Chromium off the network.
CHROMIUM_ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES: Final = Path(__file__).with_name("pages")
SCREENSHOTS: Final = Path(__file__).with_name("screenshots")
VECTOR_FILE: Final = Path(__file__).parents[1] / "vectors" / "protocol-v1.json"

RELAY_SETTLE_SECONDS: Final = 0.25

PHONE: Final = {"width": 360, "height": 740}
DESKTOP: Final = {"width": 1280, "height": 800}

_PAGE_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def setup_problems() -> list[str]:
    """What keeps the browser tests from running, in words that say how to fix it."""
    problems = []
    if not CHROMIUM.is_file():
        problems.append(f"{CHROMIUM} is missing: run `make install` (apt-get install chromium)")
    try:
        load_vendor_modules(UI_DIR)
    except Exception as error:  # noqa: BLE001 - any reason is reported as it is
        problems.append(f"libsodium.js is not usable: {error}")
    return problems


def add_test_pages(app: web.Application) -> None:
    """Serve tests/e2e/pages at /e2e/ and the vector file: test-only routes, never in create_app."""

    async def vectors(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(VECTOR_FILE, headers={"Content-Type": "application/json"})

    async def page(request: web.Request) -> web.FileResponse:
        name = request.match_info["name"]
        path = PAGES / name
        if "/" in name or path.suffix not in _PAGE_TYPES or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": _PAGE_TYPES[path.suffix]})

    app.router.add_get("/e2e/protocol-v1.json", vectors)
    app.router.add_get("/e2e/{name}", page)


@dataclass
class LiveGateway:
    """A gateway listening on 127.0.0.1 for the browser, built by create_app like production."""

    app: web.Application
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path


@asynccontextmanager
async def live_gateway(settings: Settings) -> AsyncIterator[LiveGateway]:
    app = create_app(settings)
    add_test_pages(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield LiveGateway(app=app, base_url=f"http://{host}:{port}")
        # Shutting down cancels the outbox relay; cancelled mid-query (in a test this short, its
        # first poll) aiosqlite's thread later reports to a closed loop. Let that round finish.
        await asyncio.sleep(RELAY_SETTLE_SECONDS)
    finally:
        await runner.cleanup()


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class WatchedPage:
    """A page with everything it logged: console messages, uncaught errors, CSP violations."""

    page: Page
    console: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        self.console.append((message.type, message.text))

    @property
    def csp_violations(self) -> list[str]:
        return [text for kind, text in self.console if "Content Security Policy" in text]

    @property
    def console_errors(self) -> list[str]:
        return [text for kind, text in self.console if kind == "error"]

    async def evaluate(self, script: str, arg: Any = None) -> Any:
        return await self.page.evaluate(script, arg)

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        width = self.page.viewport_size["width"] if self.page.viewport_size else 0
        path = SCREENSHOTS / f"{name}-{width}px.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


# open_gateway_page (conftest.py): path or URL, viewport=, wait_for= -> WatchedPage.
PageOpener = Callable[..., Awaitable[WatchedPage]]


async def open_page(
    browser: Browser, url: str, *, viewport: dict[str, int] = DESKTOP, wait_for: str | None = None
) -> WatchedPage:
    """A fresh context (no shared storage) at `url`, waiting until `wait_for` is truthy."""
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    watched = WatchedPage(page)
    page.on("console", watched.on_console)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    await page.goto(url)
    if wait_for is not None:
        # As a function: an expression string would need eval(), which the CSP forbids.
        await page.wait_for_function(f"() => {wait_for}", timeout=30_000)
    return watched


def vectors() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))
    return loaded
