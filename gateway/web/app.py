"""The application factory: one function builds the whole gateway from its settings."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import timedelta
from functools import partial

from aiohttp import web

from gateway import demo
from gateway.blobs import FolderBlobStore
from gateway.broker import open_broker
from gateway.config import ConfigError, Settings
from gateway.crypto.encoding import b64decode
from gateway.crypto.errors import CryptoError
from gateway.crypto.keys import PUBLIC_KEY_BYTES
from gateway.domain.audit import AuditTrail
from gateway.domain.clock import Clock, SystemClock
from gateway.domain.directory import DirectoryBook
from gateway.domain.hotline import EmergencyRules, Hotline, Limits
from gateway.domain.keys import derive_subkey
from gateway.domain.proof_of_work import ProofOfWorkGate
from gateway.domain.tip_intake import TipIntake
from gateway.store import Database, migrate
from gateway.web import (
    admin,
    audit_routes,
    auth,
    consent,
    duty,
    emergency,
    events,
    export,
    health,
    investigator,
    pages,
    public,
    reporter,
    reporter_attachments,
    shutdown,
    timers,
)
from gateway.web.errors import error_middleware
from gateway.web.keys import BROKER, DATABASE, HOTLINE, METRICS, SETTINGS
from gateway.web.limits import abuse_limits, limits_middleware, pow_pricing, server_options
from gateway.web.metrics import Metrics, metrics_middleware
from gateway.web.openapi import Endpoint, build_document, register
from gateway.web.security import apply_security_headers
from gateway.web.static import register_static_routes

logger = logging.getLogger("gateway.web.app")

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def all_endpoints() -> tuple[Endpoint, ...]:
    return (
        *health.ENDPOINTS,
        *public.ENDPOINTS,
        *reporter.ENDPOINTS,
        *reporter_attachments.ENDPOINTS,
        *auth.ENDPOINTS,
        *admin.ENDPOINTS,
        *investigator.ENDPOINTS,
        *events.ENDPOINTS,
        *duty.ENDPOINTS,
        *emergency.ENDPOINTS,
        *audit_routes.ENDPOINTS,
        *consent.ENDPOINTS,
        *export.ENDPOINTS,
    )


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.uses_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if settings.auto_migrate:
        await migrate.upgrade(settings.database_url)
        logger.info("database_migrated", extra={"revision": migrate.head()})
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


async def _hotline(app: web.Application, *, clock: Clock) -> AsyncIterator[None]:
    """The domain's dependencies, built once the database and the broker are open."""
    settings = app[SETTINGS]
    settings.blob_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    pepper = settings.server_pepper.reveal()
    directory = DirectoryBook(app[DATABASE], organisation_key(settings), clock)
    emergencies = EmergencyRules(
        ack_after=timedelta(seconds=settings.emergency_ack_seconds),
        interval=timedelta(seconds=settings.escalation_interval_seconds),
        webhook=settings.webhook_url is not None,
    )
    tip_intake = TipIntake(app[DATABASE], directory, emergencies)
    app[HOTLINE] = Hotline(
        database=app[DATABASE],
        broker=app[BROKER],
        blobs=FolderBlobStore(settings.blob_dir),
        clock=clock,
        directory=directory,
        proof_of_work=ProofOfWorkGate(
            key=derive_subkey(pepper, "proof-of-work"),
            difficulty=settings.pow_difficulty,
            clock=clock,
            pricing=pow_pricing(settings, app[BROKER], clock),
        ),
        audit=AuditTrail(settings.audit_key.reveal(), clock),
        pepper=pepper,
        limits=Limits(
            max_body_bytes=settings.max_body_bytes,
            max_attachment_bytes=settings.max_attachment_bytes,
        ),
        abuse=abuse_limits(settings, app[BROKER], pepper=pepper, clock=clock),
        tip_intake=tip_intake,
        emergencies=emergencies,
    )
    try:
        yield
    finally:
        await tip_intake.close()


async def _demo(app: web.Application) -> AsyncIterator[None]:
    """The demo organisation's people, enrolled and vetted before the first request."""
    settings = app[SETTINGS]
    if settings.demo and settings.org_public_key is None:
        await demo.prepare_demo(app[HOTLINE], settings)
    elif settings.demo:
        logger.warning("demo_skipped_organisation_key_pinned")
    yield


def organisation_key(settings: Settings) -> bytes | None:
    """The pinned organisation key, or None while the hotline has none configured.

    With the demo on and no key pinned, the demo organisation's key (made on first start).
    """
    if settings.org_public_key is None:
        return demo.demo_organisation_key(settings) if settings.demo else None
    try:
        key = b64decode(settings.org_public_key, what="organisation public key")
    except CryptoError:
        key = b""
    if len(key) != PUBLIC_KEY_BYTES:
        raise ConfigError(
            "TIPLINE_ORG_PUBLIC_KEY ([organisation] public_key): must be the 32-byte Ed25519 "
            "public key in unpadded base64url, as `tipline admin init-org` prints it"
        )
    return key


def create_app(
    settings: Settings,
    *,
    extra_cleanup: Iterable[CleanupContext] = (),
    clock: Clock | None = None,
) -> web.Application:
    """Build the gateway. Resources open in order on start-up and close in reverse.

    `clock` is for tests that move time (escalation, retention); the default is the system's.
    """
    organisation_key(settings)  # refuse a malformed key before anything starts
    metrics = Metrics()
    app = web.Application(
        middlewares=[metrics_middleware(metrics), error_middleware, limits_middleware],
        client_max_size=settings.max_body_bytes,
        handler_args=server_options(settings),
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    shutdown.install(app)
    hotline = partial(_hotline, clock=clock or SystemClock())
    app.cleanup_ctx.extend(
        (
            _database,
            _broker,
            hotline,
            _demo,
            events.live_events,
            timers.background_work,
            *extra_cleanup,
        )
    )
    endpoints = all_endpoints()
    register(app, endpoints)
    app[health.OPENAPI_DOCUMENT] = build_document(endpoints)
    register_static_routes(app)  # the browser UI and libsodium.js under /static/
    pages.register_page_routes(app)  # /, /report, /return, /staff
    hsts = settings.public_url is not None and settings.public_url.startswith("https://")
    app.on_response_prepare.append(partial(apply_security_headers, hsts=hsts))
    return app
