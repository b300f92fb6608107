"""Pages under the gateway's security headers in a real browser: the CSP holds, our own pages
cause no violation, and they fit a 360-pixel phone as well as a desktop (screenshots kept in
tests/e2e/screenshots/, which git ignores).
"""

from __future__ import annotations

import pytest

from gateway.web.security import CONTENT_SECURITY_POLICY
from tests.e2e.browser import DESKTOP, PHONE, LiveGateway, PageOpener

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_csp_blocks_an_inline_script_and_lets_same_origin_modules_run(
    open_gateway_page: PageOpener,
) -> None:
    watched = await open_gateway_page("/e2e/csp-probe.html", wait_for="window.externalScriptRan")
    assert await watched.evaluate("() => window.inlineScriptRan === undefined")
    violations = watched.csp_violations
    assert len(violations) == 1
    assert "inline script" in violations[0]
    assert "script-src 'self' 'wasm-unsafe-eval'" in violations[0]


async def test_the_browser_receives_the_gateways_csp_on_pages_scripts_and_libsodium(
    open_gateway_page: PageOpener, gateway: LiveGateway
) -> None:
    watched = await open_gateway_page("about:blank")
    for path in (
        "/e2e/harness.html",
        "/static/js/protocol/index.js",
        "/static/vendor/libsodium-wrappers.mjs",
        "/static/vendor/libsodium-sumo.mjs",
    ):
        response = await watched.page.goto(gateway.url(path))
        assert response is not None
        assert response.status == 200, path
        headers = await response.all_headers()
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert headers["cache-control"] == "no-store"
        assert headers["x-content-type-options"] == "nosniff"


async def test_pages_fit_a_phone_and_a_desktop_without_csp_violations(
    open_gateway_page: PageOpener,
) -> None:
    for viewport in (PHONE, DESKTOP):
        watched = await open_gateway_page(
            "/e2e/vectors.html", viewport=viewport, wait_for="window.vectorsDone"
        )
        assert await watched.evaluate("() => window.vectorResults.every((r) => r.ok)")
        overflow = await watched.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"horizontal scrolling at {viewport['width']} px"
        path = await watched.screenshot("vectors")
        assert path.stat().st_size > 1000
        assert watched.errors == []
        assert watched.csp_violations == []
        assert watched.console_errors == []
