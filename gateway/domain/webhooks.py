"""The emergency webhook: content-free alarms, HMAC-signed, delivered from the outbox with retries.

An alarm is written to the outbox in the same unit of work as the change it reports (a new
emergency, an escalation, an acknowledgement), so none is lost to a crash. Any number of
gateway processes deliver: each claims rows with the store's `SKIP LOCKED` claim under a lease,
posts them, and marks them delivered; a failure backs off exponentially and is retried until
the receiver accepts. A receiver may therefore see a delivery twice (a lease ran out mid-post):
the `X-Tipline-Delivery` header names each delivery so it can drop repeats.

The body is canonical JSON of exactly: `v`, `event`, `case_id`, `urgency`, `level`, `at`,
`reported_at`, `next_escalation_at`. `X-Tipline-Signature: t=<unix>,v1=<hex>` carries
HMAC-SHA256 over `<t>.<body>` under the configured secret (docs/EMERGENCIES.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol, cast
from uuid import UUID

from gateway.crypto.encoding import JsonValue, canonical_json
from gateway.domain.clock import Clock, unix_seconds
from gateway.store import Database, DatabaseUnavailable, Transaction
from gateway.store.records import JSONValue, OutboxMessage

logger = logging.getLogger("gateway.domain.webhooks")

VERSION: Final = 1
WEBHOOK_TOPIC: Final = "webhook.alarm"
SIGNATURE_HEADER: Final = "X-Tipline-Signature"
DELIVERY_HEADER: Final = "X-Tipline-Delivery"
CONTENT_TYPE: Final = "application/json"
URGENCY: Final = "emergency"

EMERGENCY_EVENT: Final = "case.emergency"
ESCALATION_EVENT: Final = "case.escalated"
ACKNOWLEDGED_EVENT: Final = "case.acknowledged"
EVENTS: Final = frozenset({EMERGENCY_EVENT, ESCALATION_EVENT, ACKNOWLEDGED_EVENT})
BODY_FIELDS: Final = frozenset(
    {"v", "event", "case_id", "urgency", "level", "at", "reported_at", "next_escalation_at"}
)
# A receiver should refuse signatures older than this (replays of a captured alarm).
SIGNATURE_TOLERANCE_SECONDS: Final = 300


def _time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def alarm_payload(
    *,
    event: str,
    case_id: UUID,
    level: int,
    at: datetime,
    reported_at: datetime,
    next_escalation_at: datetime | None,
) -> dict[str, JSONValue]:
    """Everything a receiver learns: which case, how urgent, which step, and when. No content."""
    if event not in EVENTS:
        raise ValueError(f"unknown alarm event {event!r}")
    return {
        "v": VERSION,
        "event": event,
        "case_id": str(case_id),
        "urgency": URGENCY,
        "level": level,
        "at": _time(at),
        "reported_at": _time(reported_at),
        "next_escalation_at": _time(next_escalation_at),
    }


async def enqueue_alarm(tx: Transaction, payload: Mapping[str, JSONValue], *, at: datetime) -> None:
    """Queue one delivery in the caller's unit of work (it exists exactly if that commits)."""
    if set(payload) != BODY_FIELDS:
        raise ValueError("an alarm carries exactly the documented fields")
    case_id = UUID(str(payload["case_id"]))
    await tx.outbox.enqueue(WEBHOOK_TOPIC, dict(payload), at=at, case_id=case_id)


def body_bytes(payload: Mapping[str, JSONValue]) -> bytes:
    """The exact bytes posted and signed: canonical JSON, one spelling for every value."""
    # canonical_json refuses anything but text, integers and null, which is all an alarm holds.
    return canonical_json({key: cast(JsonValue, payload[key]) for key in sorted(BODY_FIELDS)})


def signature_header(secret: bytes, body: bytes, *, timestamp: int) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`."""
    mac = hmac.new(secret, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def signature_is_valid(
    secret: bytes,
    body: bytes,
    header: str,
    *,
    now: int,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver checks (also used by the tests): a fresh timestamp and a matching MAC."""
    parts = dict(part.partition("=")[::2] for part in header.split(","))
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature_header(secret, body, timestamp=timestamp).partition(",v1=")[2]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class WebhookUnreachable(Exception):
    """The receiver could not be reached or did not answer in time; `code` says which."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class WebhookPoster(Protocol):
    """Sends one signed body to the configured receiver (the web layer provides it)."""

    async def post(self, body: bytes, headers: Mapping[str, str]) -> int:
        """The receiver's HTTP status; raises `WebhookUnreachable` when there is none."""
        ...


@dataclass(frozen=True, slots=True)
class _Outcome:
    message_id: int
    error_code: str | None


class WebhookDispatcher:
    """Delivers queued alarms; one per process, safe with any number of processes."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        poster: WebhookPoster,
        secret: bytes,
        *,
        timeout_seconds: float,
        batch_size: int = 10,
        idle_poll_seconds: float = 1.0,
        base_delay: timedelta = timedelta(seconds=5),
        max_delay: timedelta = timedelta(minutes=30),
    ) -> None:
        self._database = database
        self._clock = clock
        self._poster = poster
        self._secret = secret
        self._batch_size = batch_size
        # Posts of one batch run side by side, each bounded by the timeout: the lease outlasts
        # them, so no other process takes a row while it is being posted.
        self._lease = timedelta(seconds=timeout_seconds + 30)
        self._idle_poll = idle_poll_seconds
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def deliver_due(self) -> int:
        """One round: claim due alarms, post them, settle each. Returns how many were accepted."""
        now = self._clock.now()
        async with self._database.transaction() as tx:
            claimed = await tx.outbox.claim(
                now=now, lease=self._lease, limit=self._batch_size, topics=(WEBHOOK_TOPIC,)
            )
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._post(message) for message in claimed))
        settled_at = self._clock.now()
        async with self._database.transaction() as tx:
            await tx.outbox.mark_delivered(
                [o.message_id for o in outcomes if o.error_code is None], at=settled_at
            )
            for outcome in outcomes:
                if outcome.error_code is not None:
                    await tx.outbox.retry_later(
                        outcome.message_id,
                        now=settled_at,
                        error_code=outcome.error_code,
                        base_delay=self._base_delay,
                        max_delay=self._max_delay,
                    )
        accepted = sum(1 for outcome in outcomes if outcome.error_code is None)
        for outcome, message in zip(outcomes, claimed, strict=True):
            if outcome.error_code is not None:
                logger.warning(
                    "webhook_delivery_failed",
                    extra={
                        "outbox_id": message.id,
                        "attempts": message.attempts,
                        "error": outcome.error_code,
                    },
                )
        return accepted

    async def _post(self, message: OutboxMessage) -> _Outcome:
        body = body_bytes(message.payload)
        headers = {
            "Content-Type": CONTENT_TYPE,
            DELIVERY_HEADER: str(message.id),
            SIGNATURE_HEADER: signature_header(
                self._secret, body, timestamp=unix_seconds(self._clock.now())
            ),
        }
        try:
            status = await self._poster.post(body, headers)
        except WebhookUnreachable as failure:
            return _Outcome(message.id, failure.code)
        if 200 <= status < 300:
            return _Outcome(message.id, None)
        return _Outcome(message.id, f"http_{status}")

    async def run(self) -> None:
        """Deliver until cancelled; wait out database outages."""
        while True:
            try:
                accepted = await self.deliver_due()
            except DatabaseUnavailable:
                logger.warning("webhook_dispatcher_waiting", extra={"dependency": "database"})
                accepted = 0
            except Exception:  # One bad row must not stop every later alarm; it is logged.
                logger.exception("webhook_dispatcher_failed")
                accepted = 0
            if accepted < self._batch_size:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._idle_poll)
