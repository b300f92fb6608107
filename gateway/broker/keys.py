"""How the broker names what it stores, and the names and durations it accepts.

Both implementations use these, so they store under the same names and refuse the
same bad arguments.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Final

MAX_NAME_LENGTH: Final = 512
MAX_SESSION_FIELDS: Final = 64


class Namespace(StrEnum):
    """The kinds of things the broker stores; each key is `<prefix><namespace>:<name>`."""

    RATE = "rate"
    TOKEN = "token"  # noqa: S105 - a namespace name, not a secret
    ONCE = "once"
    COUNTER = "counter"
    LOCK = "lock"
    SESSION = "session"
    OWNER_SESSIONS = "owner-sessions"
    TIMERS = "timers"
    TIMER_PAYLOADS = "timer-payloads"
    CHANNEL = "channel"


# The namespaces whose keys are named by the caller and removed by `delete_prefix`.
# Sessions are keyed by digest and ended per owner; timers are cancelled per job.
PURGEABLE: Final = (
    Namespace.RATE,
    Namespace.TOKEN,
    Namespace.ONCE,
    Namespace.COUNTER,
    Namespace.LOCK,
)


def session_digest(session_id: str) -> str:
    """The name a session is stored under: SHA-256 of its id, never the id itself.

    Session ids are bearer secrets. Key names show up in SCAN/KEYS output, MONITOR,
    the slow log and dumps; a digest lets none of those be replayed as a login.
    An unkeyed hash suffices because ids are random with ≥ 128 bits of entropy.
    """
    check_name("session_id", session_id)
    return hashlib.sha256(session_id.encode()).hexdigest()


def check_name(what: str, name: str) -> str:
    """Refuse an empty, oversized or control-character name (keys, channels, queues, ids)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{what} is longer than {MAX_NAME_LENGTH} characters")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in name):
        raise ValueError(f"{what} contains a control character")
    return name


def check_message(channel: str, data: bytes) -> None:
    """Refuse a message to publish whose channel is a bad name or whose data is not bytes."""
    check_name("channel", channel)
    if not isinstance(data, bytes):
        raise TypeError("a published message must be bytes")


def check_seconds(what: str, seconds: float) -> float:
    """Refuse a duration that is not a positive, finite number of seconds."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"{what} must be a number of seconds")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{what} must be a positive, finite number of seconds")
    return float(seconds)


def check_remember_counting(key: str, ttl: float, counter: str, window: float) -> None:
    """The arguments `throttle_all_then_remember_once` remembers and counts with."""
    check_name("key", key)
    check_seconds("ttl", ttl)
    check_name("counter", counter)
    check_seconds("window", window)


def milliseconds(seconds: float) -> int:
    """Seconds as whole milliseconds, rounded up so a ttl never becomes zero."""
    return max(1, math.ceil(seconds * 1000))


def check_limit(what: str, value: int) -> int:
    """Refuse a count that is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer")
    return value


def check_rate_limits(checks: Sequence[tuple[str, int, float]]) -> list[tuple[str, int, float]]:
    """Refuse an empty list of rate limits, a bad key, limit or window, or a key given twice.

    A key twice would be counted once on Redis (one log, one entry) but judged twice.
    """
    checked = [
        (check_name("key", key), check_limit("limit", limit), check_seconds("window", window))
        for key, limit, window in checks
    ]
    if not checked:
        raise ValueError("give at least one rate limit to check")
    if len({key for key, _, _ in checked}) != len(checked):
        raise ValueError("each rate-limit key may be checked only once per attempt")
    return checked


def check_instant(what: str, when: float) -> float:
    """Refuse a wall-clock time that is not a finite number of seconds since the epoch."""
    if isinstance(when, bool) or not isinstance(when, int | float) or not math.isfinite(when):
        raise ValueError(f"{what} must be a finite number of seconds since the epoch")
    return float(when)


def check_session_data(data: object) -> dict[str, str]:
    """Session data is a small mapping of non-empty string names to string values."""
    if not isinstance(data, Mapping):
        raise TypeError("session data must be a mapping of strings to strings")
    copied: dict[str, str] = {}
    for name, value in data.items():
        if not isinstance(name, str):
            raise TypeError("session data names must be strings")
        check_name("session data name", name)
        if not isinstance(value, str):
            raise TypeError("session data values must be strings")
        copied[name] = value
    if len(copied) > MAX_SESSION_FIELDS:
        raise ValueError(f"session data holds more than {MAX_SESSION_FIELDS} entries")
    return copied
