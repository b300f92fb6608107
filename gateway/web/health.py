"""Operator endpoints: liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Final

from aiohttp import web

from gateway.broker import BrokerUnavailable
from gateway.store import DatabaseUnavailable
from gateway.web.keys import BROKER, DATABASE, METRICS
from gateway.web.openapi import Endpoint, Reply

logger = logging.getLogger("gateway.web.health")

READINESS_TIMEOUT_SECONDS: Final = 3.0
OPENAPI_DOCUMENT = web.AppKey("openapi_document", dict)

_STATUS_SCHEMA: Final = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string"}},
}
_READY_SCHEMA: Final = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "unavailable"]},
        "checks": {
            "type": "object",
            "additionalProperties": {"type": "string", "enum": ["ok", "unavailable"]},
        },
    },
}


async def healthz(request: web.Request) -> web.Response:
    """The process is up and its event loop answers."""
    return web.json_response({"status": "ok"})


async def _check(name: str, probe: Awaitable[None]) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe, READINESS_TIMEOUT_SECONDS)
    except (DatabaseUnavailable, BrokerUnavailable, TimeoutError):
        logger.warning("readiness_check_failed", extra={"dependency": name})
        return name, "unavailable"
    return name, "ok"


async def readyz(request: web.Request) -> web.Response:
    """Ready to serve: the database and the broker both answer."""
    app = request.app
    results = dict(
        await asyncio.gather(
            _check("database", app[DATABASE].ping()),
            _check("broker", app[BROKER].ping()),
        )
    )
    ready = all(value == "ok" for value in results.values())
    return web.json_response(
        {"status": "ready" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[METRICS].render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI_DOCUMENT])


ENDPOINTS: Final = (
    Endpoint(
        "GET",
        "/healthz",
        healthz,
        "healthz",
        "Liveness",
        "operations",
        {200: Reply("The process is alive.", _STATUS_SCHEMA)},
    ),
    Endpoint(
        "GET",
        "/readyz",
        readyz,
        "readyz",
        "Readiness: database and broker answer",
        "operations",
        {
            200: Reply("Ready.", _READY_SCHEMA),
            503: Reply("A dependency is unavailable.", _READY_SCHEMA),
        },
    ),
    Endpoint(
        "GET",
        "/metrics",
        metrics,
        "metrics",
        "Prometheus metrics (no identifying labels)",
        "operations",
        {200: Reply("Prometheus text exposition.", {"type": "string"}, "text/plain")},
    ),
    Endpoint(
        "GET",
        "/api/v1/openapi.json",
        openapi,
        "openapi",
        "This document",
        "operations",
        {200: Reply("The OpenAPI document.", {"type": "object"})},
    ),
)
