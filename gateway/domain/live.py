"""Live events: the outbox relay that turns committed outbox rows into broker messages, and the
per-investigator channels WebSockets listen on.

Every process runs one relay. A round costs the same whatever it claims: one unit of work claims
due rows (the store's claim never hands one row to two processes) and reads, in one query, who
hears of each; one broker call publishes, to the channel of each listener, one message holding
every event of the round they hear of (`bundle`); one unit marks the rows delivered. If that
call fails, every row of the round is put back with a backoff, since none is known to have
gone out: nothing is lost, at worst an event is published twice (each socket drops the copy:
web/events.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Final
from uuid import UUID

from gateway.broker import Broker, BrokerUnavailable
from gateway.domain.clock import Clock
from gateway.domain.events import TOPICS
from gateway.store import Database, DatabaseUnavailable
from gateway.store.records import JSONValue, OutboxMessage

logger = logging.getLogger("gateway.domain.live")

EVENT_VERSION: Final = 1
# A topic of its own, never from the outbox: tells open sockets to re-check their session now.
ACCESS_CHANGED: Final = "access.changed"
# A payload may name investigators beyond those on the case (e.g. escalation to a liaison).
AUDIENCE_FIELD: Final = "audience"
_CHANNEL_PREFIX: Final = "events:investigator:"


def channel_for(investigator_id: UUID) -> str:
    """Each investigator hears only their own channel: no event reaches a socket it is not for."""
    return f"{_CHANNEL_PREFIX}{investigator_id}"


def event_bytes(topic: str, payload: Mapping[str, JSONValue]) -> bytes:
    """The JSON a socket forwards: topic plus the content-free payload, without the audience."""
    event: dict[str, JSONValue] = {
        key: value for key, value in payload.items() if key != AUDIENCE_FIELD
    }
    event.update({"v": EVENT_VERSION, "topic": topic})
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


def bundle(events: Sequence[bytes]) -> bytes:
    """Several events for one channel as one broker message: one event per line.

    Compact JSON never holds a raw newline (one inside a string is escaped), so the
    line break cannot occur inside an event. A round of the relay sends each listener
    one message, however many of its rows they hear of.
    """
    return b"\n".join(events)


def events_in(data: bytes) -> list[bytes]:
    """The events of a broker message on an investigator's channel, in order."""
    return data.split(b"\n")


async def nudge(broker: Broker, investigator_ids: Iterable[UUID]) -> None:
    """Ask the sockets of these investigators to re-check their access at once (revocation)."""
    data = event_bytes(ACCESS_CHANGED, {})
    for investigator_id in investigator_ids:
        await broker.publish(channel_for(investigator_id), data)


def audience(message: OutboxMessage, on_case: list[UUID]) -> list[UUID]:
    """Who hears of an outbox row: the investigators on its case (`on_case`), plus any it
    names."""
    chosen = dict.fromkeys(on_case)
    named = message.payload.get(AUDIENCE_FIELD)
    if isinstance(named, list):
        for value in named:
            try:
                chosen[UUID(str(value))] = None
            except ValueError:
                logger.warning("outbox_audience_malformed", extra={"outbox_id": message.id})
    return list(chosen)


class OutboxRelay:
    def __init__(
        self,
        database: Database,
        broker: Broker,
        clock: Clock,
        *,
        batch_size: int = 50,
        lease: timedelta = timedelta(seconds=30),
        idle_poll_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self._database = database
        self._broker = broker
        self._clock = clock
        self._batch_size = batch_size
        self._lease = lease
        self._idle_poll = idle_poll_seconds
        self._max_backoff = max_backoff_seconds
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Deliver now instead of at the next poll (after this process committed a row)."""
        self._wake.set()

    async def deliver_due(self) -> int:
        """One round: claim, publish, mark delivered. Returns how many rows were delivered.

        Raises `BrokerUnavailable` after putting back every row it claimed.
        """
        now = self._clock.now()
        async with self._database.plain_transaction() as tx:
            # Only live topics: other deliverers (the webhook) take their own rows.
            with_inboxes = await tx.outbox.claim_with_inboxes(
                now=now, lease=self._lease, limit=self._batch_size, topics=TOPICS
            )
        claimed = [message for message, _ in with_inboxes]
        heard_by = {message.id: audience(message, on_case) for message, on_case in with_inboxes}
        if not claimed:
            return 0
        for_person: dict[UUID, list[bytes]] = {}
        for message in claimed:
            data = event_bytes(message.topic, message.payload)
            for person in heard_by[message.id]:
                for_person.setdefault(person, []).append(data)
        messages = [(channel_for(person), bundle(events)) for person, events in for_person.items()]
        row_ids = [message.id for message in claimed]
        try:
            await self._broker.publish_many(messages)
        except BrokerUnavailable:
            # Some messages may have gone out, but none is known to have: all rows go back.
            await self._settle(delivered=[], failed=row_ids)
            raise
        await self._settle(delivered=row_ids, failed=[])
        return len(row_ids)

    async def _settle(self, *, delivered: list[int], failed: list[int]) -> None:
        now = self._clock.now()
        if not failed:
            async with self._database.plain_transaction() as tx:
                await tx.outbox.mark_delivered(delivered, at=now)
            return
        async with self._database.transaction() as tx:
            await tx.outbox.mark_delivered(delivered, at=now)
            await tx.outbox.retry_later_many(
                failed,
                now=now,
                error_code="broker_unavailable",
                base_delay=timedelta(seconds=1),
                max_delay=timedelta(seconds=self._max_backoff),
            )

    def stop(self) -> None:
        """Finish the current round and return from `run` (no cancellation mid-transaction)."""
        self._stopping = True
        self._wake.set()

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds`, or less if woken (since the round began) or stopped."""
        if self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def run(self) -> None:
        """Deliver until stopped; back off while the database or the broker is down."""
        backoff = self._idle_poll
        while not self._stopping:
            # Cleared before the round, not after it: a row committed (and a wake) while the
            # round runs starts the next round at once instead of waiting for the poll.
            self._wake.clear()
            try:
                delivered = await self.deliver_due()
            except (BrokerUnavailable, DatabaseUnavailable) as outage:
                logger.warning("outbox_relay_waiting", extra={"dependency": type(outage).__name__})
                self._wake.clear()  # back off even while commits keep waking us
                await self._pause(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            except Exception:  # The relay must outlive any single bad row; it is logged.
                logger.exception("outbox_relay_failed")
                self._wake.clear()
                await self._pause(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            backoff = self._idle_poll
            if delivered < self._batch_size:
                await self._pause(self._idle_poll)
