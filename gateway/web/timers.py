"""Background work every gateway process runs while it serves: the escalation scan, webhook
deliveries and the retention purge.

Each is safe with any number of processes (see the domain modules for how): escalation steps
fire once through the database's compare-and-set, webhook rows are claimed with `SKIP LOCKED`,
and the purge runs in one process at a time under a broker lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from aiohttp import web

from gateway.config import Settings
from gateway.domain.escalation import EscalationScanner
from gateway.domain.hotline import Hotline
from gateway.domain.retention import RetentionRules, RetentionRunner
from gateway.domain.webhooks import WebhookDispatcher
from gateway.web.keys import HOTLINE, SETTINGS
from gateway.web.webhook_delivery import HttpWebhookPoster

ESCALATION_SCANNER = web.AppKey("escalation_scanner", EscalationScanner)
WEBHOOK_DISPATCHER = web.AppKey("webhook_dispatcher", WebhookDispatcher)
RETENTION_RUNNER = web.AppKey("retention_runner", RetentionRunner)


def retention_runner(settings: Settings, hotline: Hotline) -> RetentionRunner:
    return RetentionRunner(
        database=hotline.database,
        broker=hotline.broker,
        blobs=hotline.blobs,
        audit=hotline.audit,
        clock=hotline.clock,
        rules=RetentionRules.from_days(
            closed=settings.retention_closed_after_days,
            idle=settings.retention_idle_after_days,
            withdrawn=settings.retention_withdrawn_after_days,
        ),
    )


async def background_work(app: web.Application) -> AsyncIterator[None]:
    """Start the loops once the Hotline exists; stop them before it closes."""
    settings = app[SETTINGS]
    hotline = app[HOTLINE]
    scanner = EscalationScanner(hotline)
    app[ESCALATION_SCANNER] = scanner
    retention = retention_runner(settings, hotline)
    app[RETENTION_RUNNER] = retention
    loops: list[Coroutine[Any, Any, None]] = [
        scanner.run(settings.escalation_scan_seconds),
        retention.run(settings.retention_interval_seconds),
    ]
    poster = None
    if settings.webhook_url is not None and settings.webhook_secret is not None:
        poster = HttpWebhookPoster(
            settings.webhook_url, timeout_seconds=settings.webhook_timeout_seconds
        )
        dispatcher = WebhookDispatcher(
            hotline.database,
            hotline.clock,
            poster,
            settings.webhook_secret.reveal(),
            timeout_seconds=settings.webhook_timeout_seconds,
        )
        app[WEBHOOK_DISPATCHER] = dispatcher
        loops.append(dispatcher.run())
    tasks = [asyncio.create_task(loop) for loop in loops]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if poster is not None:
            await poster.close()
