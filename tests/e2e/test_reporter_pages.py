"""The reporter's pages in a real browser, beyond the journey: the language follows the browser
and the visible switch (no cookie); the page carries the organisation key the gateway pins;
without JavaScript or WebAssembly (Tor Browser's "Safer" level) the pages say why and what to do;
every control has a label, text has enough contrast, the form works with the keyboard alone;
a mistyped pickup code is explained before anything is sent.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser

from gateway.crypto.keys import fingerprint
from tests.e2e.browser import PHONE, LiveGateway, WatchedPage
from tests.fixtures.organisation import Organisation

pytestmark = pytest.mark.asyncio(loop_scope="session")

# For each visible text: its colours, and whether it is large (WCAG: 24 px, or 18.66 px bold).
CONTRAST = """() => {
    const channel = (c) => {
        c /= 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    const parse = (text) => text.match(/[\\d.]+/g).map(Number);
    const luminance = ([r, g, b]) =>
        0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    const background = (element) => {
        for (let node = element; node; node = node.parentElement) {
            const [r, g, b, a = 1] = parse(getComputedStyle(node).backgroundColor);
            if (a > 0) return [r, g, b];
        }
        return [255, 255, 255];
    };
    const problems = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const element = node.parentElement;
        if (!node.textContent.trim() || !element.checkVisibility()) continue;
        const style = getComputedStyle(element);
        const size = parseFloat(style.fontSize);
        const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
        const [l1, l2] = [luminance(parse(style.color)), luminance(background(element))];
        const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
        if (ratio < (large ? 3 : 4.5)) {
            problems.push(`${node.textContent.trim().slice(0, 40)}: ${ratio.toFixed(2)}`);
        }
    }
    return problems;
}"""

UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
    .filter((control) => control.type !== "hidden" && !control.hidden)
    .filter((control) => control.tagName === "BUTTON"
        ? !control.textContent.trim() && !control.getAttribute("aria-label")
        : control.labels.length === 0 && !control.getAttribute("aria-label"))
    .map((control) => control.id || control.outerHTML.slice(0, 60))"""


async def test_the_language_follows_the_browser_and_the_switch_without_a_cookie(
    *, open_ui_page, web_ui, gateway: LiveGateway
) -> None:
    dutch, english = web_ui.strings("nl"), web_ui.strings("en")
    watched = await open_ui_page("/", locale="nl-NL")
    page = watched.page
    assert await page.get_attribute("html", "lang") == "nl"
    assert await page.inner_text("h1") == dutch["landing.title"]
    assert await page.get_attribute("a[hreflang=nl]", "aria-current") == "true"

    await page.get_by_role("link", name="English").click()
    await page.wait_for_url("**/?lang=en")
    assert await page.inner_text("h1") == english["landing.title"]
    # The choice travels in the links, not in a cookie.
    await page.get_by_role("link", name=english["landing.make_report"]).click()
    await page.wait_for_url("**/report?lang=en")
    assert await page.inner_text("h1") == english["report.title"]
    assert await page.context.cookies() == []
    response = await page.goto(gateway.url("/return?lang=nl"))
    assert response is not None
    headers = await response.all_headers()
    assert (headers["content-language"], headers["vary"]) == ("nl", "Accept-Language")
    assert await page.inner_text("h1") == dutch["return.title"]
    await web_ui.check(watched)


async def test_pages_carry_the_pinned_organisation_key_and_show_its_fingerprint(
    *, open_ui_page, gateway: LiveGateway, organisation: Organisation
) -> None:
    watched = await open_ui_page("/")
    for path in ("/", "/report", "/return", "/staff"):
        await watched.page.goto(gateway.url(path))
        if path != "/":
            key = await watched.page.get_attribute('meta[name="tipline-org-key"]', "content")
            assert key == organisation.public_key_text
        if path != "/staff":
            shown = await watched.page.inner_text(".fingerprint")
            assert shown == fingerprint(organisation.public_key)


async def test_without_javascript_each_page_says_why_it_is_needed_and_what_to_do(
    *, open_ui_page, gateway: LiveGateway, web_ui
) -> None:
    text = web_ui.strings("en")
    watched = await open_ui_page("/", java_script_enabled=False)
    for path, key in (
        ("/report", "noscript.why"),
        ("/return", "noscript.why_return"),
        ("/staff", "staff.noscript"),
    ):
        await watched.page.goto(gateway.url(path))
        body = await watched.page.inner_text("main")
        assert text["noscript.title"] in body
        assert text[key] in body
        # Nothing that needs scripts is usable; a form sent without them would leak its text.
        assert await watched.page.locator("form:visible").count() == 0, path
    await watched.screenshot("no-javascript-staff")


async def test_without_webassembly_the_pages_explain_tor_browsers_safer_level(
    *, browser: Browser, open_ui_page, web_ui
) -> None:
    text = web_ui.strings("en")
    context = await browser.new_context(viewport=PHONE)
    try:
        # What Tor Browser's "Safer" level does: no WebAssembly (javascript.options.wasm off).
        await context.add_init_script(script="delete globalThis.WebAssembly;")
        for path, form in (
            ("/report", "#tip-form"),
            ("/return", "#code-form"),
            ("/staff", "#login-form"),
        ):
            watched = await open_ui_page(path, context=context)
            notice = watched.page.locator("#needs-wasm")
            await notice.wait_for(state="visible")
            assert text["wasm.title"] in await notice.inner_text()
            assert await watched.page.is_hidden(form)
            assert watched.errors == []
            await watched.screenshot(f"no-webassembly{path.replace('/', '-')}")
        landing = await open_ui_page("/", context=context)
        await landing.page.locator("#needs-wasm").wait_for(state="visible")
        assert text["wasm.what"] in await landing.page.inner_text("#needs-wasm")
    finally:
        await context.close()


async def test_every_control_is_labelled_and_every_text_has_enough_contrast(
    *, open_ui_page, gateway: LiveGateway, web_ui
) -> None:
    watched = await open_ui_page("/", viewport=PHONE, locale="nl-NL")
    for path, ready in (
        ("/", "main"),
        ("/report", "#tip-form"),
        ("/return", "#code-form"),
        ("/staff", "#login-form"),
    ):
        await watched.page.goto(gateway.url(path))
        await watched.page.locator(ready).wait_for(state="visible")
        assert await watched.evaluate(UNLABELLED) == [], path
        assert await watched.evaluate(CONTRAST) == [], path
    await web_ui.check(watched, expected_statuses=(401,))


async def tab_until(page: Any, element_id: str, limit: int = 20) -> list[str]:
    visited = []
    for _ in range(limit):
        await page.keyboard.press("Tab")
        visited.append(await page.evaluate("() => document.activeElement.id"))
        if visited[-1] == element_id:
            return visited
    raise AssertionError(f"#{element_id} not reached with Tab: {visited}")


async def test_a_report_can_be_made_with_the_keyboard_alone(
    *, open_ui_page, enroll_staff, web_ui
) -> None:
    await enroll_staff("investigator", "triage")
    watched = await open_ui_page("/report", viewport=PHONE)
    page = watched.page
    await page.locator("#tip-form").wait_for(state="visible")
    await tab_until(page, "about-victim")
    outline = await page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused control must show it has focus"
    await page.keyboard.press("ArrowDown")  # radio group: the next choice
    assert await page.is_checked("#about-pimp")
    order = await tab_until(page, "tip-body")
    await page.keyboard.type("Typed with the keyboard only.")
    order += await tab_until(page, "tip-location")
    await page.keyboard.type("Zwolle")
    order += await tab_until(page, "tip-when")
    order += await tab_until(page, "tip-files")
    order += await tab_until(page, "tip-urgent")
    await page.keyboard.press("Space")
    assert await page.is_checked("#tip-urgent")
    order += await tab_until(page, "tip-submit")
    assert order == [
        "tip-body",
        "tip-location",
        "tip-when",
        "tip-files",
        "tip-urgent",
        "tip-submit",
    ]
    await page.keyboard.press("Enter")
    await page.locator("#pickup-code").wait_for(state="visible")
    # Focus moves to the code's heading, so a screen reader announces it.
    assert await page.evaluate("() => document.activeElement.id") == "code-heading"
    await tab_until(page, "copy-code")
    await tab_until(page, "code-saved")
    await page.keyboard.press("Space")
    await tab_until(page, "code-done")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/?lang=en")
    await web_ui.check(watched)


async def test_a_mistyped_pickup_code_is_explained_before_anything_is_sent(
    *, open_ui_page, web_ui
) -> None:
    text = web_ui.strings("nl")
    watched: WatchedPage = await open_ui_page("/return", locale="nl-NL")
    page = watched.page
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    await page.locator("#code-form").wait_for(state="visible")
    # A valid code with two neighbouring digits swapped.
    typed = "1459-7422-6222-8641-3875-3344-3418"
    for entry, expected in (
        (typed, text["code.error.typo"]),
        (
            "1459 7422 6222",
            text["code.error.too_short"].replace("{n}", "12").replace("{digits}", "28"),
        ),
        ("1459-74x2", text["code.error.not_a_digit"]),
        ("", text["code.error.empty"]),
    ):
        await page.fill("#code-input", entry)
        await page.click("#code-submit")
        assert await page.inner_text("#code-error") == expected
        assert await page.get_attribute("#code-input", "aria-invalid") == "true"
    assert [url for url in requests if "/api/" in url] == []
    await web_ui.check(watched)
