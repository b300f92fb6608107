"""The outbox relay: every committed row is published, then marked delivered; a broker outage
loses nothing, the rows come back after a backoff."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from gateway.broker import Broker, BrokerUnavailable, RedisBroker
from gateway.domain.live import (
    AUDIENCE_FIELD,
    OutboxRelay,
    bundle,
    channel_for,
    event_bytes,
    events_in,
)
from gateway.store import Database
from tests.fixtures.broker import RedisProxy
from tests.fixtures.database import postgres_only


class ManualClock:
    def __init__(self) -> None:
        self.moment = datetime.now(UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


async def enqueue_for(database: Database, listener: uuid.UUID, at: datetime) -> int:
    async with database.transaction() as tx:
        row = await tx.outbox.enqueue(
            "case.updated", {"case_id": "c", AUDIENCE_FIELD: [str(listener)]}, at=at
        )
    return row.id


async def delivered(database: Database, row_id: int) -> bool:
    async with database.transaction(read_only=True) as tx:
        row = await tx.outbox.get(row_id)
    assert row is not None
    return row.delivered_at is not None


def test_events_drop_the_audience_and_carry_topic_and_version() -> None:
    data = event_bytes("case.created", {"case_id": "x", "urgent": True, AUDIENCE_FIELD: ["y"]})
    assert json.loads(data) == {"v": 1, "topic": "case.created", "case_id": "x", "urgent": True}


async def test_the_relay_publishes_each_row_to_its_audience_and_marks_it_delivered(
    database: Database, broker: Broker
) -> None:
    clock = ManualClock()
    listener = uuid.uuid4()
    relay = OutboxRelay(database, broker, clock)
    async with broker.subscribe(channel_for(listener)) as subscription:
        row_id = await enqueue_for(database, listener, clock.now())
        runner = asyncio.create_task(relay.run())
        try:
            message = await asyncio.wait_for(anext(subscription), 5)
            for _ in range(100):  # the relay marks the row right after publishing it
                if await delivered(database, row_id):
                    break
                await asyncio.sleep(0.05)
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
    assert json.loads(message.data)["topic"] == "case.updated"
    assert await delivered(database, row_id)


@postgres_only
async def test_a_broker_outage_loses_no_event(
    database: Database,
    redis_proxy: RedisProxy,
    redis_broker_factory: Callable[..., RedisBroker],
) -> None:
    clock = ManualClock()
    listener = uuid.uuid4()
    flaky = redis_broker_factory(url=redis_proxy.url, socket_timeout=1.0, connect_timeout=1.0)
    direct = redis_broker_factory(flaky.key_prefix)
    relay = OutboxRelay(database, flaky, clock)
    row_id = await enqueue_for(database, listener, clock.now())

    await redis_proxy.cut()
    with pytest.raises(BrokerUnavailable):
        await relay.deliver_due()
    async with database.transaction(read_only=True) as tx:
        waiting = await tx.outbox.get(row_id)
    assert waiting is not None
    assert waiting.delivered_at is None
    assert waiting.last_error == "broker_unavailable"
    assert waiting.available_at > clock.now()

    await redis_proxy.restore()
    async with direct.subscribe(channel_for(listener)) as subscription:
        assert await relay.deliver_due() == 0  # backing off: not due yet
        clock.advance(5)
        assert await relay.deliver_due() == 1
        message = await asyncio.wait_for(anext(subscription), 5)
    assert json.loads(message.data)["case_id"] == "c"
    assert await delivered(database, row_id)


def test_a_bundle_gives_back_its_events_in_order_even_with_line_breaks_in_their_values() -> None:
    events = [
        event_bytes("case.created", {"case_id": "a"}),
        event_bytes("case.updated", {"case_id": "b", "note": "two\nlines"}),
        event_bytes("case.emergency", {"case_id": "c", "urgent": True}),
    ]
    assert events_in(bundle(events)) == events
    assert events_in(bundle(events[:1])) == events[:1]
    assert [json.loads(event)["case_id"] for event in events_in(bundle(events))] == ["a", "b", "c"]
