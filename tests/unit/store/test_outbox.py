"""The outbox: notifications commit with the change, are claimed by one deliverer, retried."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from gateway.store import Database
from tests.fixtures.database import postgres_only
from tests.unit.store.builders import add_case, add_investigator, at

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


async def test_failed_deliveries_put_back_together_each_back_off_by_their_own_attempts(
    database: Database,
) -> None:
    moment = at(0)
    ids: list[int] = []
    async with database.transaction() as tx:
        # One message more each round, every message claimed each round: attempts 6 down to 0.
        for _ in range(6):
            ids.append((await tx.outbox.enqueue("case.created", {}, at=moment)).id)
            await tx.outbox.claim(now=moment, lease=LEASE, limit=10)
            moment += LEASE
        ids.append((await tx.outbox.enqueue("case.created", {}, at=moment)).id)
        done = await tx.outbox.enqueue("case.created", {}, at=moment)
        await tx.outbox.mark_delivered([done.id], at=moment)
        put_back = await tx.outbox.retry_later_many(
            [*ids, done.id],
            now=moment,
            error_code="broker_unavailable",
            base_delay=timedelta(seconds=10),
            max_delay=timedelta(seconds=60),
        )
        found = [await tx.outbox.get(message_id) for message_id in ids]
        delivered = await tx.outbox.get(done.id)
    waiting = [message for message in found if message is not None]
    assert put_back == len(waiting) == 7
    assert [message.attempts for message in waiting] == [6, 5, 4, 3, 2, 1, 0]
    assert [message.available_at - moment for message in waiting] == [
        timedelta(seconds=s) for s in (60, 60, 60, 40, 20, 10, 10)
    ]
    assert {message.last_error for message in waiting} == {"broker_unavailable"}
    assert delivered is not None
    assert delivered.available_at == moment  # delivered already: left alone
    assert delivered.last_error is None


@pytest.mark.parametrize(
    ("base", "cap"),
    [
        (timedelta(seconds=3), timedelta(days=400)),  # the cap is reached
        (timedelta(seconds=1), timedelta(days=20000)),  # the doubling stops first
        (timedelta(seconds=10), timedelta(seconds=5)),  # the cap from the first attempt
    ],
)
async def test_putting_back_together_backs_off_exactly_as_one_at_a_time(
    database: Database, base: timedelta, cap: timedelta
) -> None:
    """Twins with the same attempts, one put back alone and one with the rest, end equal."""
    moment = at(0)
    pairs: list[tuple[int, int]] = []
    async with database.transaction() as tx:
        for _ in range(35):  # past the point where the doubling stops
            alone = await tx.outbox.enqueue("case.created", {}, at=moment)
            together = await tx.outbox.enqueue("case.created", {}, at=moment)
            pairs.append((alone.id, together.id))
            await tx.outbox.claim(now=moment, lease=LEASE, limit=100)
            moment += LEASE
        for alone_id, _ in pairs:
            await tx.outbox.retry_later(
                alone_id, now=moment, error_code="e", base_delay=base, max_delay=cap
            )
        await tx.outbox.retry_later_many(
            [together_id for _, together_id in pairs],
            now=moment,
            error_code="e",
            base_delay=base,
            max_delay=cap,
        )
        for alone_id, together_id in pairs:
            alone_row = await tx.outbox.get(alone_id)
            together_row = await tx.outbox.get(together_id)
            assert alone_row is not None
            assert together_row is not None
            assert together_row.attempts == alone_row.attempts
            assert together_row.available_at == alone_row.available_at


async def test_putting_back_nothing_does_nothing_and_a_wordy_error_is_refused(
    database: Database,
) -> None:
    [message_id] = await _enqueue(database, 1)
    async with database.transaction() as tx:
        assert await tx.outbox.retry_later_many([], now=at(1), error_code="e") == 0
        with pytest.raises(ValueError, match="short codes"):
            await tx.outbox.retry_later_many(
                [message_id], now=at(1), error_code="503 from https://hooks.example/secret"
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


async def test_a_claim_with_inboxes_gives_each_row_the_investigators_whose_inbox_holds_its_case(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        people = sorted([(await add_investigator(tx)).id for _ in range(3)])
        shared, _ = await add_case(tx, investigators=people)
        alone, _ = await add_case(tx, investigators=people[:1])
        nobodys, _ = await add_case(tx)
        for case_id in (shared.id, alone.id, nobodys.id):
            await tx.outbox.enqueue("case.created", {"mine": 1}, at=at(0), case_id=case_id)
        await tx.outbox.enqueue("case.created", {"mine": 1, "no": "case"}, at=at(0))
        await tx.outbox.enqueue("webhook.alarm", {"other": "deliverer"}, at=at(0))

    async with database.transaction() as tx:
        claimed = await tx.outbox.claim_with_inboxes(
            now=at(1), lease=LEASE, limit=10, topics=["case.created"]
        )
    async with database.transaction() as tx:
        again = await tx.outbox.claim_with_inboxes(
            now=at(1), lease=LEASE, limit=10, topics=["case.created"]
        )

    # (add_case writes rows of its own; these are the ones written here)
    mine = [(message, inboxes) for message, inboxes in claimed if "mine" in message.payload]
    assert [(message.case_id, inboxes) for message, inboxes in mine] == [
        (shared.id, people),
        (alone.id, people[:1]),
        (nobodys.id, []),
        (None, []),
    ]
    assert mine[-1][0].payload == {"mine": 1, "no": "case"}
    assert "webhook.alarm" not in {message.topic for message, _ in claimed}
    assert {message.attempts for message, _ in claimed} == {1}
    assert {message.available_at for message, _ in claimed} == {at(1) + LEASE}
    assert again == []  # leased


async def test_a_claim_with_inboxes_takes_at_most_its_limit_oldest_first(
    database: Database,
) -> None:
    ids = await _enqueue(database, 5)
    async with database.transaction() as tx:
        claimed = await tx.outbox.claim_with_inboxes(
            now=at(1), lease=LEASE, limit=3, topics=["case.created"]
        )
    assert [message.id for message, _ in claimed] == ids[:3]
