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

from gateway.domain.escalation import EscalationScanner
from gateway.domain.webhooks import WebhookDispatcher
from gateway.web.keys import HOTLINE, SETTINGS
from gateway.web.webhook_delivery import HttpWebhookPoster

ESCALATION_SCANNER = web.AppKey("escalation_scanner", EscalationScanner)
WEBHOOK_DISPATCHER = web.AppKey("webhook_dispatcher", WebhookDispatcher)


async def background_work(app: web.Application) -> AsyncIterator[None]:
    """Start the loops once the Hotline exists; stop them before it closes."""
    settings = app[SETTINGS]
    hotline = app[HOTLINE]
    scanner = EscalationScanner(hotline)
    app[ESCALATION_SCANNER] = scanner
    loops: list[Coroutine[Any, Any, None]] = [scanner.run(settings.escalation_scan_seconds)]
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
