"""`tipline secret new`: print a fresh secret for a `*_file` setting."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.config import new_secret_text


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "secret", help="make secrets for the server's *_file settings"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    new = actions.add_parser("new", help="print 32 random bytes as base64url (for a secret file)")
    new.set_defaults(run=_new)


def _new(arguments: argparse.Namespace) -> int:
    print(new_secret_text())
    return 0
