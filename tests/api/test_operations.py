"""Operator endpoints and the behaviour every answer shares (errors, headers, metrics)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient

from gateway.logs import configure_logging
from gateway.web.access_log import access_log_options
from gateway.web.app import create_app
from tests.fixtures.app import ClientFactory, make_settings

Client = TestClient[Any, Any]


async def test_healthz_answers_ok(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_checks_the_database_and_the_broker(client: Client) -> None:
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "broker": "ok"},
    }


async def test_readyz_says_which_dependency_is_down_and_answers_quickly(
    aiohttp_client: ClientFactory, tmp_path: Path, database_url: str
) -> None:
    # Nothing listens on port 1: the broker is down from the start.
    settings = make_settings(tmp_path, database_url, redis_prefix="tipline-test:down:")
    settings = replace(settings, redis_url="redis://127.0.0.1:1/0")
    client = await aiohttp_client(create_app(settings))

    started = time.monotonic()
    response = await client.get("/readyz")

    assert response.status == 503
    assert (await response.json())["checks"] == {"database": "ok", "broker": "unavailable"}
    assert time.monotonic() - started < 5


async def test_every_answer_carries_the_security_headers(client: Client) -> None:
    for path in ("/healthz", "/no/such/page"):
        response = await client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Server"] == "tipline"
        assert "Set-Cookie" not in response.headers


async def test_unknown_routes_and_methods_get_the_json_error_shape(client: Client) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status == 404
    assert await missing.json() == {
        "error": {"code": "not_found", "message": "Nothing was found here."}
    }

    wrong_method = await client.post("/healthz")
    assert wrong_method.status == 405
    assert (await wrong_method.json())["error"]["code"] == "method_not_allowed"


async def test_metrics_use_route_templates_and_no_identifying_labels(client: Client) -> None:
    await client.get("/healthz", headers={"User-Agent": "canary-agent/1.0"})
    await client.get("/some/secret-looking/path-4711")

    response = await client.get("/metrics")
    assert response.status == 200
    text = await response.text()
    assert 'route="/healthz"' in text
    assert 'route="unmatched"' in text
    assert "4711" not in text
    assert "canary-agent" not in text
    assert "127.0.0.1" not in text


async def test_the_openapi_document_lists_the_operator_endpoints(client: Client) -> None:
    response = await client.get("/api/v1/openapi.json")
    document = await response.json()
    assert document["openapi"].startswith("3.1")
    for path in ("/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"):
        assert path in document["paths"]
    assert "Error" in document["components"]["schemas"]


async def test_the_access_log_records_no_address_and_no_user_agent(
    app: web.Application,
) -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    # The same runner options as `tipline serve`, on a real socket.
    runner = web.AppRunner(app, **access_log_options())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with ClientSession() as session:
            response = await session.get(
                f"http://127.0.0.1:{port}/healthz?locator=canary-query",
                headers={
                    "User-Agent": "canary-agent/1.0",
                    "X-Forwarded-For": "203.0.113.50",
                    "Forwarded": "for=198.51.100.7",
                },
            )
            assert response.status == 200
        # aiohttp writes the access log after the response has gone out.
        requests: list[dict[str, Any]] = []
        for _ in range(50):
            records = [json.loads(line) for line in stream.getvalue().splitlines()]
            requests = [record for record in records if record["event"] == "http_request"]
            if requests:
                break
            await asyncio.sleep(0.02)
    finally:
        await runner.cleanup()

    assert requests, "the request was not logged at all"
    assert requests[0]["route"] == "/healthz"
    assert requests[0]["status"] == 200
    logged = stream.getvalue()
    for canary in ("canary-agent", "203.0.113.50", "198.51.100.7", "canary-query", "127.0.0.1"):
        assert canary not in logged
