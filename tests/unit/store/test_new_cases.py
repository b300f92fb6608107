"""New cases written a group at a time: every row of each, exactly as given, on both databases
(PostgreSQL writes a group in one statement, SQLite table by table); a taken locator hash
skips its case and every row of it; a malformed group is refused before any statement."""

from __future__ import annotations

import os
import uuid
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Table, select

from gateway.store import Database
from gateway.store.records import (
    Case,
    Message,
    MessageKind,
    NewCase,
    Recipient,
    RecipientKind,
)
from gateway.store.repositories.cases import CASES
from gateway.store.repositories.inbox import INBOX_ENTRIES
from gateway.store.repositories.messages import MESSAGE_RECIPIENTS, MESSAGES
from gateway.store.repositories.outbox import OUTBOX
from tests.unit.store.builders import add_case, add_investigator, at, envelope, key_id


def new_case(
    minute: float,
    inboxes: tuple[uuid.UUID, ...],
    *,
    urgent: bool = False,
    locator_hash: bytes | None = None,
) -> NewCase:
    when = at(minute)
    case = Case.opened(
        case_id=uuid.uuid4(),
        locator_hash=locator_hash or os.urandom(32),
        reporter_public_key=os.urandom(32),
        urgent=urgent,
        at=when,
        messages=1,
    )
    sealed = envelope(500)
    tip = Message(
        id=uuid.uuid4(),
        case_id=case.id,
        seq=1,
        kind=MessageKind.TIP,
        author_id=None,
        visible_to_reporter=True,
        envelope=sealed,
        size=len(sealed),
        created_at=when,
    )
    recipients = (
        Recipient(key_id=key_id(), kind=RecipientKind.REPORTER),
        Recipient(key_id=key_id(), kind=RecipientKind.RECOVERY),
        *(
            Recipient(key_id=key_id(), kind=RecipientKind.INVESTIGATOR, investigator_id=person)
            for person in inboxes
        ),
    )
    return NewCase(
        case=case,
        tip=tip,
        recipients=recipients,
        inboxes=inboxes,
        event_topic="case.created",
        event_payload={"case_id": str(case.id), "at": when.isoformat(), "urgent": urgent},
    )


async def stored(database: Database, table: Table, column: str, ids: list[Any]) -> list[dict]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(select(table).where(table.c[column].in_(ids)))
        return [dict(row._mapping) for row in rows]


def without(rows: list[dict], *names: str) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in names} for row in rows]


def ordered(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=repr)


async def test_every_row_of_every_case_is_stored_exactly_as_given(database: Database) -> None:
    async with database.transaction() as tx:
        people = [(await add_investigator(tx)).id for _ in range(3)]
    group = [
        new_case(1, tuple(people)),
        new_case(2, (people[0],), urgent=True),
        new_case(3, ()),
    ]

    async with database.transaction() as tx:
        assert await tx.new_cases.write(group) == [True, True, True]

    case_ids = [item.case.id for item in group]
    assert ordered(await stored(database, CASES, "id", case_ids)) == ordered(
        [
            {name: getattr(item.case, name) for name in CASES.c.keys()}  # noqa: SIM118
            for item in group
        ]
    )
    assert ordered(await stored(database, MESSAGES, "case_id", case_ids)) == ordered(
        [{name: getattr(item.tip, name) for name in MESSAGES.c.keys()} for item in group]  # noqa: SIM118
    )
    assert ordered(
        await stored(database, MESSAGE_RECIPIENTS, "message_id", [i.tip.id for i in group])
    ) == ordered(
        [
            {
                "message_id": item.tip.id,
                "key_id": recipient.key_id,
                "investigator_id": recipient.investigator_id,
                "recipient_kind": recipient.kind,
            }
            for item in group
            for recipient in item.recipients
        ]
    )
    assert ordered(await stored(database, INBOX_ENTRIES, "case_id", case_ids)) == ordered(
        [
            {
                "investigator_id": person,
                "case_id": item.case.id,
                "added_at": item.case.created_at,
                "last_seen_at": None,
            }
            for item in group
            for person in item.inboxes
        ]
    )
    events = await stored(database, OUTBOX, "case_id", case_ids)
    assert all(isinstance(event["id"], int) for event in events)
    assert ordered(without(events, "id")) == ordered(
        [
            {
                "topic": "case.created",
                "payload": dict(item.event_payload),
                "case_id": item.case.id,
                "created_at": item.case.created_at,
                "available_at": item.case.created_at,
                "attempts": 0,
                "last_error": None,
                "delivered_at": None,
            }
            for item in group
        ]
    )


async def test_a_taken_locator_hash_skips_that_case_and_every_row_of_it(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        person = (await add_investigator(tx)).id
        earlier, _ = await add_case(tx, investigators=[person])
    reused = new_case(1, (person,), locator_hash=earlier.locator_hash)
    twice = os.urandom(32)
    group = [new_case(1, (person,)), reused, new_case(2, (person,), locator_hash=twice)]
    group.append(new_case(3, (person,), locator_hash=twice))

    async with database.transaction() as tx:
        assert await tx.new_cases.write(group) == [True, False, True, False]

    skipped = [reused.case.id, group[3].case.id]
    assert await stored(database, CASES, "id", skipped) == []
    assert await stored(database, MESSAGES, "case_id", skipped) == []
    assert await stored(database, MESSAGE_RECIPIENTS, "message_id", [reused.tip.id]) == []
    assert await stored(database, INBOX_ENTRIES, "case_id", skipped) == []
    assert await stored(database, OUTBOX, "case_id", skipped) == []
    async with database.transaction(read_only=True) as tx:
        assert [m.seq for m in await tx.messages.list_for_case(earlier.id)] == [1]


@pytest.mark.parametrize(
    ("broken", "refusal"),
    [
        (lambda c: replace(c, recipients=()), "at least one recipient"),
        (
            lambda c: replace(c, inboxes=(c.inboxes[0], c.inboxes[0])),
            "each inbox once",
        ),
        (
            lambda c: replace(c, tip=replace(c.tip, seq=2)),
            "message number 1",
        ),
        (
            lambda c: replace(c, case=replace(c.case, locator_hash=b"x")),
            "32 bytes",
        ),
    ],
    ids=["no recipients", "an inbox twice", "tip not first", "short locator hash"],
)
async def test_a_malformed_case_refuses_the_group_before_anything_is_written(
    database: Database, broken: Any, refusal: str
) -> None:
    async with database.transaction() as tx:
        person = (await add_investigator(tx)).id
    good = new_case(1, (person,))

    with pytest.raises(ValueError, match=refusal):
        async with database.transaction() as tx:
            await tx.new_cases.write([good, broken(new_case(2, (person,)))])

    assert await stored(database, CASES, "id", [good.case.id]) == []
