"""Asking the person at the keyboard, with a scriptable alternative for every question.

Each secret or answer comes from, in order: a file named by a flag, an environment variable,
then a prompt (hidden for secrets). Without a terminal the prompt reads one line from stdin,
so a script can pipe answers in; nothing is ever echoed back.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from gateway.cli.common import CommandError


def _from_file(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read the {what} from {path}: {error}") from None
    value = text.rstrip("\r\n")
    if not value:
        raise CommandError(f"{path} holds no {what}")
    return value


def _read_line(prompt: str, *, secret: bool) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt) if secret else input(prompt)
    # No terminal: a script pipes the answer in; the prompt still goes to stderr.
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        raise CommandError("no answer on standard input")
    print(file=sys.stderr)
    return line.rstrip("\r\n")


def ask(
    what: str,
    *,
    file: Path | None = None,
    env: str | None = None,
    value: str | None = None,
    secret: bool = False,
    confirm: bool = False,
) -> str:
    """An answer from `value`, else `file`, else `$env`, else a prompt."""
    if value:
        return value
    if file is not None:
        return _from_file(file, what)
    if env and os.environ.get(env):
        return os.environ[env]
    answer = _read_line(f"{what}: ", secret=secret)
    if not answer:
        raise CommandError(f"no {what} given")
    if confirm and _read_line(f"{what} (again): ", secret=secret) != answer:
        raise CommandError(f"the two {what}s differ")
    return answer


def confirm(question: str, *, assume_yes: bool) -> None:
    """Go on only after a yes (or `--yes`)."""
    if assume_yes:
        return
    answer = _read_line(f"{question} [y/N] ", secret=False).strip().lower()
    if answer not in {"y", "yes"}:
        raise CommandError("stopped: not confirmed")
