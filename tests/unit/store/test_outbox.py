"""The outbox: notifications commit with the change, are claimed by one deliverer, retried."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from gateway.store import Database
from tests.fixtures.database import postgres_only
from tests.unit.store.builders import add_case, at

LEASE = timedelta(minutes=2)


async def _enqueue(database: Database, count: int, *, minute: float = 0) -> list[int]:
    async with database.transaction() as tx:
        return [
            (await tx.outbox.enqueue("case.created", {"n": n}, at=at(minute))).id
            for n in range(count)
        ]


async def test_a_notification_exists_only_if_its_unit_commits(database: Database) -> None:
    class Refused(Exception):
        pass

    async def write_then_fail() -> None:
        async with database.transaction() as tx:
            await add_case(tx)
            await tx.outbox.enqueue("case.escalated", {"level": 1}, at=at(1))
            raise Refused

    with pytest.raises(Refused):
        await write_then_fail()
    async with database.transaction(read_only=True) as tx:
        assert await tx.outbox.pending_count() == 0


async def test_claimed_messages_come_back_only_after_their_lease_ends(database: Database) -> None:
    ids = await _enqueue(database, 3)
    async with database.transaction() as tx:
        claimed = await tx.outbox.claim(now=at(1), lease=LEASE, limit=10)
    async with database.transaction() as tx:
        during_lease = await tx.outbox.claim(now=at(2), lease=LEASE, limit=10)
    async with database.transaction() as tx:
        after_lease = await tx.outbox.claim(now=at(3), lease=LEASE, limit=10)
    assert [message.id for message in claimed] == ids
    assert [message.attempts for message in claimed] == [1, 1, 1]
    assert claimed[0].payload == {"n": 0}
    assert during_lease == []
    assert [message.id for message in after_lease] == ids
    assert [message.attempts for message in after_lease] == [2, 2, 2]


async def test_a_message_scheduled_for_later_waits_until_then(database: Database) -> None:
    async with database.transaction() as tx:
        later = await tx.outbox.enqueue("case.escalate", {}, at=at(0), available_at=at(15))
    async with database.transaction() as tx:
        early = await tx.outbox.claim(now=at(14), lease=LEASE)
        on_time = await tx.outbox.claim(now=at(15), lease=LEASE)
    assert early == []
    assert [message.id for message in on_time] == [later.id]


async def test_delivered_messages_are_never_claimed_again(database: Database) -> None:
    ids = await _enqueue(database, 4)
    async with database.transaction() as tx:
        claimed = await tx.outbox.claim(now=at(1), lease=LEASE, limit=2)
        delivered = await tx.outbox.mark_delivered([m.id for m in claimed], at=at(1))
    async with database.transaction() as tx:
        later = await tx.outbox.claim(now=at(60), lease=LEASE, limit=10)
        pending = await tx.outbox.pending_count()
    assert delivered == 2
    assert [message.id for message in later] == ids[2:]
    assert pending == 2


async def test_a_failed_delivery_backs_off_exponentially_and_keeps_only_a_code(
    database: Database,
) -> None:
    [message_id] = await _enqueue(database, 1)
    delays = []
    now = at(0)
    for _ in range(4):
        async with database.transaction() as tx:
            [claimed] = await tx.outbox.claim(now=now, lease=LEASE)
            retry = await tx.outbox.retry_later(
                claimed.id,
                now=now,
                error_code="http_503",
                base_delay=timedelta(seconds=10),
                max_delay=timedelta(seconds=60),
            )
        assert retry is not None
        assert retry.last_error == "http_503"
        delays.append(retry.available_at - now)
        now = retry.available_at
    assert delays == [timedelta(seconds=s) for s in (10, 20, 40, 60)]
    async with database.transaction() as tx:
        with pytest.raises(ValueError, match="short codes"):
            await tx.outbox.retry_later(
                message_id, now=now, error_code="503 from https://hooks.example/secret"
            )


async def test_old_delivered_messages_are_cleaned_up(database: Database) -> None:
    ids = await _enqueue(database, 3)
    async with database.transaction() as tx:
        await tx.outbox.mark_delivered(ids[:1], at=at(1))
        await tx.outbox.mark_delivered(ids[1:2], at=at(100))
        removed = await tx.outbox.delete_delivered(before=at(50))
        remaining = [await tx.outbox.get(message_id) for message_id in ids]
    assert removed == 1
    assert remaining[0] is None
    assert remaining[1] is not None
    assert remaining[2] is not None


async def test_concurrent_deliverers_together_claim_every_message_exactly_once(
    database: Database, database_url: str
) -> None:
    ids = await _enqueue(database, 40)
    handles = [database, *(Database.from_url(database_url) for _ in range(3))]

    async def deliverer(handle: Database) -> list[int]:
        mine: list[int] = []
        while True:
            async with handle.transaction() as tx:
                batch = await tx.outbox.claim(now=at(1), lease=LEASE, limit=3)
            if not batch:
                return mine
            mine.extend(message.id for message in batch)
            await asyncio.sleep(0)

    try:
        claims = await asyncio.gather(*(deliverer(handle) for handle in handles))
    finally:
        for handle in handles[1:]:
            await handle.close()
    everything = [message_id for claim in claims for message_id in claim]
    assert sorted(everything) == ids


@postgres_only
async def test_two_claimers_on_postgresql_skip_each_others_locked_rows(
    database: Database,
) -> None:
    """The second claimer runs while the first has not committed: it must neither wait nor
    take the same rows (FOR UPDATE SKIP LOCKED)."""
    ids = await _enqueue(database, 6)
    async with database.transaction() as first:
        first_claim = await first.outbox.claim(now=at(1), lease=LEASE, limit=4)
        async with asyncio.timeout(5), database.transaction() as second:
            second_claim = await second.outbox.claim(now=at(1), lease=LEASE, limit=10)
    assert [message.id for message in first_claim] == ids[:4]
    assert [message.id for message in second_claim] == ids[4:]
