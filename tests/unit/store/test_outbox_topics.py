"""Outbox claims by topic: each deliverer (live events, webhooks) takes only its own rows."""

from __future__ import annotations

from datetime import timedelta

from gateway.store import Database
from tests.unit.store.builders import at

LEASE = timedelta(minutes=2)


async def test_a_claim_for_some_topics_leaves_the_others_due(database: Database) -> None:
    async with database.transaction() as tx:
        live = await tx.outbox.enqueue("case.created", {}, at=at(0))
        hook = await tx.outbox.enqueue("webhook.alarm", {}, at=at(0))
        escalated = await tx.outbox.enqueue("case.escalated", {}, at=at(0))

    async with database.transaction() as tx:
        hooks = await tx.outbox.claim(now=at(1), lease=LEASE, topics={"webhook.alarm"})
    async with database.transaction() as tx:
        events = await tx.outbox.claim(
            now=at(1), lease=LEASE, topics=("case.created", "case.escalated")
        )
    async with database.transaction() as tx:
        anything_left = await tx.outbox.claim(now=at(1), lease=LEASE)

    assert [message.id for message in hooks] == [hook.id]
    assert [message.id for message in events] == [live.id, escalated.id]
    assert anything_left == []


async def test_a_claim_for_no_topic_at_all_claims_nothing(database: Database) -> None:
    async with database.transaction() as tx:
        await tx.outbox.enqueue("case.created", {}, at=at(0))

    async with database.transaction() as tx:
        assert await tx.outbox.claim(now=at(1), lease=LEASE, topics=()) == []
        assert len(await tx.outbox.claim(now=at(1), lease=LEASE)) == 1
