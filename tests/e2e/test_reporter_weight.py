"""What a page costs to load, and that all of it comes from the gateway: no third-party
resource, every request same-origin. Reporters on a phone or over Tor pay for every byte on every
visit (nothing is cached, on purpose), so the pages stay within a budget.

    .venv/bin/pytest tests/e2e/test_reporter_weight.py -s     # prints the figures
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Request

from tests.e2e.browser import LiveGateway

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Bytes on the wire (bodies as sent, gzip where the gateway compresses) per page load.
BUDGET = {"/": 40_000, "/report": 420_000, "/return": 420_000, "/staff": 420_000}


async def test_each_page_loads_only_from_the_gateway_and_within_its_budget(
    *, open_ui_page, gateway: LiveGateway
) -> None:
    watched = await open_ui_page("/")
    page = watched.page
    origin = urlsplit(gateway.base_url)
    for path, budget in BUDGET.items():
        requests: list[Request] = []

        def record(request: Request, into: list[Request] = requests) -> None:
            into.append(request)

        page.on("requestfinished", record)
        await page.goto(gateway.url(path))
        await page.wait_for_load_state("networkidle")
        page.remove_listener("requestfinished", record)
        assert {(urlsplit(r.url).scheme, urlsplit(r.url).netloc) for r in requests} == {
            (origin.scheme, origin.netloc)
        }, path
        sizes = [await request.sizes() for request in requests]
        body = sum(size["responseBodySize"] for size in sizes)
        headers = sum(size["responseHeadersSize"] for size in sizes)
        print(f"\n{path}: {len(requests)} requests, {body} B of bodies + {headers} B of headers")
        assert body + headers <= budget, path
