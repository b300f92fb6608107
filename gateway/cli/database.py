"""`tipline db upgrade|current`: apply and inspect the database migrations."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from gateway.cli.common import add_config_option
from gateway.config import load_settings
from gateway.store import migrate


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("db", help="database migrations")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    upgrade = actions.add_parser("upgrade", help="apply every pending migration")
    add_config_option(upgrade)
    upgrade.set_defaults(run=_upgrade)
    current = actions.add_parser("current", help="print the database's migration revision")
    add_config_option(current)
    current.set_defaults(run=_current)


def _upgrade(arguments: argparse.Namespace) -> int:
    settings = load_settings(arguments.config)
    if settings.uses_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    asyncio.run(migrate.upgrade(settings.database_url))
    print(f"database at revision {asyncio.run(migrate.current(settings.database_url))}")
    return 0


def _current(arguments: argparse.Namespace) -> int:
    settings = load_settings(arguments.config)
    print(asyncio.run(migrate.current(settings.database_url)) or "empty (no migration applied)")
    return 0
