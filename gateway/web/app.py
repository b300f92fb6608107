"""The application factory: one function builds the whole gateway from its settings."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from functools import partial

from aiohttp import web

from gateway.broker import open_broker
from gateway.config import Settings
from gateway.store import Database, migrate
from gateway.web import health
from gateway.web.errors import error_middleware
from gateway.web.keys import BROKER, DATABASE, METRICS, SETTINGS
from gateway.web.metrics import Metrics, metrics_middleware
from gateway.web.openapi import Endpoint, build_document, register
from gateway.web.security import apply_security_headers

logger = logging.getLogger("gateway.web.app")

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def all_endpoints() -> tuple[Endpoint, ...]:
    return (*health.ENDPOINTS,)


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.uses_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if settings.auto_migrate:
        await migrate.upgrade(settings.database_url)
    database = Database.from_url(settings.database_url)
    app[DATABASE] = database
    logger.info(
        "database_opened", extra={"backend": "sqlite" if settings.uses_sqlite else "postgresql"}
    )
    try:
        yield
    finally:
        await database.close()


async def _broker(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    broker = open_broker(settings.redis_url, key_prefix=settings.redis_key_prefix)
    app[BROKER] = broker
    logger.info("broker_opened", extra={"backend": "redis" if settings.redis_url else "memory"})
    try:
        yield
    finally:
        await broker.close()


async def _blob_folder(app: web.Application) -> AsyncIterator[None]:
    app[SETTINGS].blob_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    yield


def create_app(
    settings: Settings, *, extra_cleanup: Iterable[CleanupContext] = ()
) -> web.Application:
    """Build the gateway. Resources open in order on start-up and close in reverse."""
    metrics = Metrics()
    app = web.Application(
        middlewares=[metrics_middleware(metrics), error_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app.cleanup_ctx.extend((_database, _broker, _blob_folder, *extra_cleanup))
    endpoints = all_endpoints()
    register(app, endpoints)
    app[health.OPENAPI_DOCUMENT] = build_document(endpoints)
    hsts = settings.public_url is not None and settings.public_url.startswith("https://")
    app.on_response_prepare.append(partial(apply_security_headers, hsts=hsts))
    return app
