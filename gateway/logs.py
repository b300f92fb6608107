"""Structured, content-free logging: one JSON object per line, nothing that identifies anyone.

Our own code logs an event name and typed fields. Records from libraries are reduced to
their message template and exception type, because their arguments and exception texts
can carry a client address or header content (aiohttp logs "Error handling request from
<address>", for example).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any, Final, TextIO

OWN_LOGGER_PREFIX: Final = "gateway"

# Defence in depth: anything shaped like an IP address is masked even if it slipped
# into a message we did not write.
_IPV4: Final = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_IPV6: Final = re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{0,4}\b|::ffff:[0-9.]+")
_MASK: Final = "<address>"

_RESERVED: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


def scrub(text: str) -> str:
    """Mask anything that looks like an IP address."""
    return _IPV6.sub(_MASK, _IPV4.sub(_MASK, text))


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in record.__dict__.items() if key not in _RESERVED}


def _safe(value: object) -> object:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    return scrub(str(value))


class StructuredFormatter(logging.Formatter):
    """Render a record as one JSON line (or a compact text line for humans)."""

    def __init__(self, *, as_json: bool = True) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        own = record.name == OWN_LOGGER_PREFIX or record.name.startswith(OWN_LOGGER_PREFIX + ".")
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            # Library messages keep only their template: their arguments may identify people.
            "event": scrub(record.getMessage() if own else str(record.msg)),
        }
        entry.update({key: _safe(value) for key, value in _fields(record).items()})
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
            if own:
                entry["traceback"] = scrub(_frames_only(record.exc_info[2]))
        if self.as_json:
            return json.dumps(entry, separators=(",", ":"), sort_keys=False)
        extras = " ".join(
            f"{key}={value}" for key, value in entry.items() if key not in {"ts", "level", "event"}
        )
        return f"{entry['ts']} {entry['level']:<7} {entry['event']} {extras}".rstrip()


def _frames_only(tb: Any) -> str:
    """File, line and function of each frame: where it broke, without any values."""
    frames = traceback.extract_tb(tb)
    return " | ".join(f"{frame.filename}:{frame.lineno}:{frame.name}" for frame in frames)


def configure_logging(level: str = "info", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Install the structured formatter on the root logger (called once by the CLI)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(StructuredFormatter(as_json=fmt == "json"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's own access log records the peer address; ours replaces it.
    logging.getLogger("aiohttp.access").disabled = True
    # Alembic narrates every migration step at info; only its problems are worth a line.
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))


def log_event(
    logger: logging.Logger, event: str, level: int = logging.INFO, **fields: object
) -> None:
    """Log an event name with content-free fields (counts, codes, durations, ids)."""
    logger.log(level, event, extra=dict(fields) if isinstance(fields, Mapping) else {})
