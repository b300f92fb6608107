"""The `tipline` command: one sub-command module per area, wired together here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import gateway
from gateway.cli import (
    admin,
    audit,
    backup,
    case,
    database,
    dossier,
    emergency,
    investigator,
    report,
    retention,
    secret,
    serve,
)
from gateway.cli.common import CommandError
from gateway.config import ConfigError

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tipline",
        description="Tipline Gateway: an end-to-end encrypted, anonymous tip line.",
    )
    parser.add_argument("--version", action="version", version=f"tipline {gateway.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.add_parser(commands)
    database.add_parser(commands)
    backup.add_parser(commands)
    secret.add_parser(commands)
    audit.add_parser(commands)
    retention.add_parser(commands)
    dossier.add_parser(commands)
    emergency.add_parser(commands)
    report.add_parser(commands)
    admin.add_parser(commands)
    investigator.add_parser(commands, more=case.add_case_commands)
    case.add_parser(commands)
    # The everyday investigator commands also work without the `investigator` prefix.
    investigator.add_login(commands)
    investigator.add_logout(commands)
    investigator.add_inbox(commands)
    investigator.add_watch(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        result: int = arguments.run(arguments)
    except ConfigError as error:
        print(f"tipline: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as error:
        print(f"tipline: {error}", file=sys.stderr)
        return error.exit_code
    return result
