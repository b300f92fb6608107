"""Bulk seeding: seeded cases read back exactly like cases the submit flow writes."""

from __future__ import annotations

import os
from datetime import timedelta
from uuid import UUID

import pytest

from gateway.store import Database
from gateway.store.records import CaseStatus, MessageKind, Recipient, RecipientKind
from gateway.store.seeding import SeedCase, SeedingRefused, refresh_statistics, seed_cases
from tests.unit.store.builders import add_investigator, at, count_rows


def _seed_case(minute: float, inboxes: list[UUID], status: CaseStatus = CaseStatus.NEW) -> SeedCase:
    reporter_key_id = os.urandom(16)
    return SeedCase(
        locator_hash=os.urandom(32),
        reporter_public_key=os.urandom(32),
        envelope=os.urandom(700),
        recipients=[
            Recipient(key_id=reporter_key_id, kind=RecipientKind.REPORTER),
            *(
                Recipient(key_id=os.urandom(16), kind=RecipientKind.INVESTIGATOR, investigator_id=p)
                for p in inboxes
            ),
        ],
        inboxes=inboxes,
        at=at(minute),
        status=status,
    )


async def test_seeded_cases_are_found_by_locator_with_their_tip_recipients_and_inbox_rows(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        people = [(await add_investigator(tx)).id for _ in range(2)]
    seeds = [_seed_case(minute, people) for minute in range(30)]

    written = await seed_cases(database, seeds, batch_size=7)

    assert written == 30
    probe = seeds[12]
    async with database.transaction(read_only=True) as tx:
        case = await tx.cases.find_by_locator_hash(probe.locator_hash)
        assert case is not None
        assert (case.status, case.last_message_seq, case.created_at) == (
            CaseStatus.NEW,
            1,
            probe.at,
        )
        assert case.last_activity_at == case.updated_at == probe.at
        [tip] = await tx.messages.list_for_case(
            case.id, reporter_visible_only=True, wrapped_for=probe.recipients[0].key_id
        )
        assert (tip.kind, tip.seq, tip.envelope, tip.size) == (
            MessageKind.TIP,
            1,
            probe.envelope,
            700,
        )
        assert {r.key_id for r in await tx.messages.recipients(tip.id)} == {
            r.key_id for r in probe.recipients
        }
        assert await tx.inbox.investigators_of_case(case.id) == sorted(people)
        page = await tx.inbox.page(people[0], limit=50)
    assert [item.added_at for item in page.items] == [at(m) for m in reversed(range(30))]
    counts = await count_rows(database)
    assert (counts["cases"], counts["messages"], counts["inbox_entries"]) == (30, 30, 60)
    assert counts["message_recipients"] == 30 * 3


async def test_an_ended_case_is_seeded_with_its_closing_time(database: Database) -> None:
    async with database.transaction() as tx:
        person = (await add_investigator(tx)).id

    await seed_cases(database, [_seed_case(3, [person], CaseStatus.CLOSED)])

    async with database.transaction(read_only=True) as tx:
        closed = await tx.cases.due_for_retention(
            closed_before=at(3) + timedelta(seconds=1),
            withdrawn_before=None,
            idle_before=None,
            idle_statuses=(),
        )
    assert len(closed) == 1


async def test_a_batch_with_a_locator_used_twice_is_rolled_back_whole(database: Database) -> None:
    async with database.transaction() as tx:
        person = (await add_investigator(tx)).id
    first = _seed_case(1, [person])
    twin = SeedCase(
        locator_hash=first.locator_hash,
        reporter_public_key=os.urandom(32),
        envelope=b"x",
        recipients=first.recipients,
        inboxes=[person],
        at=at(2),
    )

    with pytest.raises(SeedingRefused):
        await seed_cases(database, [first, twin])

    counts = await count_rows(database)
    assert (counts["cases"], counts["messages"], counts["inbox_entries"]) == (0, 0, 0)


async def test_statistics_can_be_refreshed_after_a_load(database: Database) -> None:
    async with database.transaction() as tx:
        person = (await add_investigator(tx)).id
    await seed_cases(database, [_seed_case(m, [person]) for m in range(5)])

    await refresh_statistics(database)

    async with database.transaction(read_only=True) as tx:
        page = await tx.inbox.page(person, limit=3)
    assert len(page.items) == 3
