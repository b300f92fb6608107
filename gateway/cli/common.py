"""Pieces every sub-command shares: the config option and the error type."""

from __future__ import annotations

import argparse
from pathlib import Path


class CommandError(Exception):
    """A command could not do its job; the message is shown to the user as is."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML configuration file (default: $TIPLINE_CONFIG, else built-in defaults)",
    )
