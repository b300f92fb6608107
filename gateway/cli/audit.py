"""`tipline audit verify`: check the whole audit chain and name the first broken link."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from gateway.cli.common import CommandError, add_config_option
from gateway.config import load_settings
from gateway.domain.audit import AuditTrail, ChainReport
from gateway.domain.clock import SystemClock
from gateway.store import Database

EXIT_BROKEN = 3


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("audit", help="the audit trail")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="check the hash chain from its first entry")
    add_config_option(verify)
    verify.set_defaults(run=_verify)


async def _report(database_url: str, audit_key: bytes) -> ChainReport:
    database = Database.from_url(database_url)
    try:
        return await AuditTrail(audit_key, SystemClock()).verify(database)
    finally:
        await database.close()


def _verify(arguments: argparse.Namespace) -> int:
    settings = load_settings(arguments.config)
    report = asyncio.run(_report(settings.database_url, settings.audit_key.reveal()))
    if not report.intact:
        raise CommandError(
            f"audit chain broken at entry {report.first_broken_seq}: {report.problem} "
            f"({report.entries} entries before it verify)",
            exit_code=EXIT_BROKEN,
        )
    print(f"audit chain intact: {report.entries} entries, head {report.head.hex()}")
    return 0
