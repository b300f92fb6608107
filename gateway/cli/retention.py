"""`tipline retention run`: purge the cases whose retention period is over, once, now.

The gateway does this itself every `[retention] interval_seconds`; the command is for an
operator who wants it done at a given moment (or to see what is due with `--dry-run`).
With Redis it takes the same lock as the gateways, so it never purges alongside them;
without Redis overlapping purges are still safe (each case is purged once, in its own unit).
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from typing import Any

from gateway.blobs import FolderBlobStore
from gateway.broker import open_broker
from gateway.cli.common import CommandError, add_config_option
from gateway.config import Settings, load_settings
from gateway.domain.audit import AuditTrail
from gateway.domain.clock import SystemClock
from gateway.domain.retention import RetentionRules, RetentionRunner
from gateway.store import Database

EXIT_LOCKED = 4
DRY_RUN_LIMIT = 10_000


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "retention", help="purge cases whose retention period is over"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="purge what is due now (rows, blobs, broker keys)")
    add_config_option(run)
    run.add_argument(
        "--dry-run", action="store_true", help="only count what is due, by rule; change nothing"
    )
    run.set_defaults(run=_run)


def _runner(settings: Settings, database: Database, broker: Any, *, batch: int) -> RetentionRunner:
    clock = SystemClock()
    return RetentionRunner(
        database=database,
        broker=broker,
        blobs=FolderBlobStore(settings.blob_dir),
        audit=AuditTrail(settings.audit_key.reveal(), clock),
        clock=clock,
        rules=RetentionRules.from_days(
            closed=settings.retention_closed_after_days,
            idle=settings.retention_idle_after_days,
            withdrawn=settings.retention_withdrawn_after_days,
        ),
        batch=batch,
    )


async def _execute(settings: Settings, *, dry_run: bool) -> str:
    database = Database.from_url(settings.database_url)
    broker = open_broker(settings.redis_url, key_prefix=settings.redis_key_prefix)
    try:
        if dry_run:
            runner = _runner(settings, database, broker, batch=DRY_RUN_LIMIT)
            now = SystemClock().now()
            reasons = Counter(
                RetentionRules.from_days(
                    closed=settings.retention_closed_after_days,
                    idle=settings.retention_idle_after_days,
                    withdrawn=settings.retention_withdrawn_after_days,
                ).reason(case, now)
                for case in await runner.due(now)
            )
            listed = ", ".join(f"{reason}: {count}" for reason, count in sorted(reasons.items()))
            return f"due for purging: {sum(reasons.values())} cases ({listed or 'none'})"
        report = await _runner(settings, database, broker, batch=100).run_once()
        if report is None:
            raise CommandError("another process is purging right now; try again later", EXIT_LOCKED)
        suffix = " (stopped early: the lock was lost; run again)" if report.interrupted else ""
        return (
            f"purged {report.cases} cases ({report.messages} messages, "
            f"{report.attachments} attachments){suffix}"
        )
    finally:
        await broker.close()
        await database.close()


def _run(arguments: argparse.Namespace) -> int:
    settings = load_settings(arguments.config)
    print(asyncio.run(_execute(settings, dry_run=arguments.dry_run)))
    return 0
