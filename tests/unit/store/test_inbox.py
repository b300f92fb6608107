"""Inboxes: newest first, stable keyset pages, filters, read state."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from gateway.store import Database
from gateway.store.records import CaseStatus, InboxItem, MessageKind, Recipient, RecipientKind
from tests.unit.store.builders import add_case, add_investigator, at


async def _page_through(
    database: Database, investigator_id: uuid.UUID, *, limit: int, **filters: Any
) -> list[list[InboxItem]]:
    pages: list[list[InboxItem]] = []
    cursor = None
    while True:
        async with database.transaction(read_only=True) as tx:
            page = await tx.inbox.page(investigator_id, limit=limit, after=cursor, **filters)
        pages.append(list(page.items))
        if page.next_cursor is None:
            return pages
        # Cursors travel through a URL as text.
        cursor = page.next_cursor.decode(page.next_cursor.encode())


async def test_paging_with_many_equal_timestamps_returns_every_case_once_newest_first(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        person = await add_investigator(tx)
        older = [(await add_case(tx, investigators=[person.id], when=at(1)))[0] for _ in range(3)]
        same_moment = [
            (await add_case(tx, investigators=[person.id], when=at(5)))[0] for _ in range(17)
        ]
        newest, _ = await add_case(tx, investigators=[person.id], when=at(9))

    pages = await _page_through(database, person.id, limit=4)

    listed = [item.case.id for page in pages for item in page]
    assert len(listed) == len(set(listed)) == 21
    assert all(len(page) <= 4 for page in pages)
    assert len(pages) == 6
    assert listed[0] == newest.id
    assert set(listed[1:18]) == {case.id for case in same_moment}
    assert set(listed[18:]) == {case.id for case in older}
    moments = [item.added_at for page in pages for item in page]
    assert moments == sorted(moments, reverse=True)


async def test_a_case_arriving_while_paging_does_not_shift_the_later_pages(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        person = await add_investigator(tx)
        for _ in range(6):
            await add_case(tx, investigators=[person.id], when=at(5))
    async with database.transaction(read_only=True) as tx:
        first = await tx.inbox.page(person.id, limit=3)
    async with database.transaction() as tx:
        await add_case(tx, investigators=[person.id], when=at(6))
    async with database.transaction(read_only=True) as tx:
        second = await tx.inbox.page(person.id, limit=3, after=first.next_cursor)
    seen = [item.case.id for item in [*first.items, *second.items]]
    assert len(set(seen)) == 6
    assert second.next_cursor is None


async def test_the_inbox_filters_by_status_urgency_and_assignee(database: Database) -> None:
    async with database.transaction() as tx:
        me = await add_investigator(tx)
        colleague = await add_investigator(tx)
        team = [me.id, colleague.id]
        plain, _ = await add_case(tx, investigators=team, when=at(1))
        urgent, _ = await add_case(tx, investigators=team, when=at(2), urgent=True)
        mine, _ = await add_case(tx, investigators=team, when=at(3))
        await tx.cases.assign(mine.id, me.id, at=at(4))
        theirs, _ = await add_case(tx, investigators=team, when=at(4))
        await tx.cases.assign(theirs.id, colleague.id, at=at(4))
        closed, _ = await add_case(tx, investigators=team, when=at(5))
        await tx.cases.set_status(closed.id, CaseStatus.CLOSED, at=at(6))

    async def ids(**filters: Any) -> list[uuid.UUID]:
        async with database.transaction(read_only=True) as tx:
            page = await tx.inbox.page(me.id, limit=50, **filters)
        return [item.case.id for item in page.items]

    assert await ids() == [closed.id, theirs.id, mine.id, urgent.id, plain.id]
    assert await ids(urgent=True) == [urgent.id]
    assert await ids(urgent=False) == [closed.id, theirs.id, mine.id, plain.id]
    assert await ids(assigned_to=me.id) == [mine.id]
    assert await ids(statuses=[CaseStatus.CLOSED]) == [closed.id]
    assert await ids(statuses=[CaseStatus.NEW], urgent=False) == [theirs.id, mine.id, plain.id]
    assert await ids(statuses=[]) == []


async def test_an_investigator_sees_only_the_cases_in_their_own_inbox(database: Database) -> None:
    async with database.transaction() as tx:
        me = await add_investigator(tx)
        other = await add_investigator(tx)
        mine, _ = await add_case(tx, investigators=[me.id])
        await add_case(tx, investigators=[other.id])
    async with database.transaction(read_only=True) as tx:
        page = await tx.inbox.page(me.id, limit=10)
        entry = await tx.inbox.entry(me.id, mine.id)
        not_mine = await tx.inbox.entry(other.id, mine.id)
    assert [item.case.id for item in page.items] == [mine.id]
    assert entry is not None
    assert entry.case == mine
    assert not_mine is None


async def test_adding_a_case_to_an_inbox_twice_keeps_the_first_row(database: Database) -> None:
    async with database.transaction() as tx:
        me = await add_investigator(tx)
        late = await add_investigator(tx)
        case, _ = await add_case(tx, investigators=[me.id], when=at(1))
        await tx.inbox.add(case.id, [me.id, late.id, late.id], at=at(30))
    async with database.transaction(read_only=True) as tx:
        mine = await tx.inbox.entry(me.id, case.id)
        theirs = await tx.inbox.entry(late.id, case.id)
        everyone = await tx.inbox.investigators_of_case(case.id)
    assert mine is not None
    assert mine.added_at == at(1)
    assert theirs is not None
    assert theirs.added_at == at(30)
    assert sorted(everyone) == sorted([me.id, late.id])


async def test_a_case_is_unread_until_seen_and_again_after_new_activity(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        me = await add_investigator(tx)
        case, _ = await add_case(tx, investigators=[me.id], when=at(1))

    async def entry_now() -> InboxItem:
        async with database.transaction(read_only=True) as tx:
            found = await tx.inbox.entry(me.id, case.id)
        assert found is not None
        return found

    assert (await entry_now()).unread
    async with database.transaction() as tx:
        assert await tx.inbox.mark_seen(me.id, case.id, at=at(2))
        assert not await tx.inbox.mark_seen(me.id, uuid.uuid4(), at=at(2))
    assert not (await entry_now()).unread
    async with database.transaction() as tx:
        await tx.cases.set_status(case.id, CaseStatus.TRIAGE, at=at(3))
    assert not (await entry_now()).unread  # a status change is not news in the thread
    await _reply(database, case.id, minute=4)
    assert (await entry_now()).unread


async def _reply(database: Database, case_id: uuid.UUID, *, minute: float) -> None:
    async with database.transaction() as tx:
        await tx.messages.append(
            case_id,
            kind=MessageKind.REPLY,
            author_id=None,
            visible_to_reporter=True,
            envelope=b"ciphertext",
            recipients=[Recipient(key_id=bytes(16), kind=RecipientKind.REPORTER)],
            at=at(minute),
        )


async def test_a_revoked_investigators_inbox_can_be_emptied(database: Database) -> None:
    async with database.transaction() as tx:
        me = await add_investigator(tx)
        other = await add_investigator(tx)
        case, _ = await add_case(tx, investigators=[me.id, other.id])
        await add_case(tx, investigators=[me.id])
        removed = await tx.inbox.remove_investigator(me.id)
        remaining = await tx.inbox.investigators_of_case(case.id)
    assert removed == 2
    assert remaining == [other.id]


async def test_the_investigators_of_several_cases_come_sorted_in_one_answer_with_every_case(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        people = [(await add_investigator(tx)).id for _ in range(4)]
        crowded, _ = await add_case(tx, investigators=[people[3], people[0], people[2]])
        single, _ = await add_case(tx, investigators=[people[1]])
        nobodys, _ = await add_case(tx)
    unknown = uuid.uuid4()
    async with database.transaction(read_only=True) as tx:
        found = await tx.inbox.investigators_of_cases([single.id, crowded.id, nobodys.id, unknown])
        one_by_one = {case_id: await tx.inbox.investigators_of_case(case_id) for case_id in found}
        none_asked = await tx.inbox.investigators_of_cases([])
    assert found == {
        crowded.id: sorted([people[3], people[0], people[2]]),
        single.id: [people[1]],
        nobodys.id: [],
        unknown: [],
    }
    assert one_by_one == found
    assert none_asked == {}


@pytest.mark.parametrize("limit", [0, 201])
async def test_a_page_holds_between_one_and_two_hundred_cases(
    database: Database, limit: int
) -> None:
    async with database.transaction(read_only=True) as tx:
        with pytest.raises(ValueError, match="1 to 200"):
            await tx.inbox.page(uuid.uuid4(), limit=limit)
