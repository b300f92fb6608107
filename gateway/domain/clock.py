"""Time as the domain sees it: an injectable clock, so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def unix_seconds(moment: datetime) -> int:
    """Whole Unix seconds, the unit the protocol's `created`, `expires` and `not_after` use."""
    return int(moment.timestamp())
