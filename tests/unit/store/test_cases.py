"""Cases: creation in one unit, look-up by locator hash, state changes, escalation, purge."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from sqlalchemy import exc

from gateway.store import Database, LocatorTaken
from gateway.store.records import (
    CaseStatus,
    ConsentState,
    MessageKind,
    Recipient,
    RecipientKind,
)
from tests.unit.store.builders import (
    T0,
    add_case,
    add_investigator,
    at,
    count_rows,
    envelope,
    key_id,
    rows_mentioning,
)


async def test_a_case_is_written_with_its_tip_recipients_inbox_rows_and_outbox_row(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        first = await add_investigator(tx)
        second = await add_investigator(tx)
        case, tip = await add_case(tx, investigators=[first.id, second.id], urgent=True)

    async with database.transaction(read_only=True) as tx:
        stored = await tx.cases.get(case.id)
        messages = await tx.messages.list_for_case(case.id)
        recipients = await tx.messages.recipients(tip.id)
        inboxes = await tx.inbox.investigators_of_case(case.id)
        claimed = await tx.outbox.pending_count()
    assert stored is not None
    assert stored.status is CaseStatus.NEW
    assert stored.urgent is True
    assert stored.last_message_seq == 1
    assert messages == [tip]
    assert tip.seq == 1
    assert {recipient.kind for recipient in recipients} == {
        RecipientKind.REPORTER,
        RecipientKind.INVESTIGATOR,
    }
    assert sorted(inboxes) == sorted([first.id, second.id])
    assert claimed == 1


async def test_a_failure_half_way_through_creating_a_case_leaves_nothing_behind(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        person = await add_investigator(tx)
    before = await count_rows(database)

    async def create_with_an_inbox_row_for_nobody() -> None:
        async with database.transaction() as tx:
            case, _ = await add_case(tx, investigators=[person.id])
            await tx.inbox.add(case.id, [uuid.uuid4()], at=T0)  # no such investigator

    with pytest.raises(exc.IntegrityError):
        await create_with_an_inbox_row_for_nobody()
    assert await count_rows(database) == before


async def test_a_second_case_with_the_same_locator_hash_is_refused(database: Database) -> None:
    locator_hash = os.urandom(32)
    async with database.transaction() as tx:
        first, _ = await add_case(tx, locator_hash=locator_hash)

    async def create_again() -> None:
        async with database.transaction() as tx:
            await add_case(tx, locator_hash=locator_hash)

    with pytest.raises(LocatorTaken):
        await create_again()
    async with database.transaction(read_only=True) as tx:
        assert await tx.cases.find_by_locator_hash(locator_hash) == first
    assert (await count_rows(database))["messages"] == 1


async def test_a_case_is_found_by_its_locator_hash_or_id_and_nothing_else(
    database: Database,
) -> None:
    locator_hash = os.urandom(32)
    async with database.transaction() as tx:
        case, _ = await add_case(tx, locator_hash=locator_hash)
    async with database.transaction(read_only=True) as tx:
        assert await tx.cases.find_by_locator_hash(locator_hash) == case
        assert await tx.cases.get(case.id) == case
        assert await tx.cases.find_by_locator_hash(os.urandom(32)) is None
        assert await tx.cases.get(uuid.uuid4()) is None


async def test_hashes_and_keys_of_the_wrong_length_are_refused(database: Database) -> None:
    async with database.transaction() as tx:
        with pytest.raises(ValueError, match="32 bytes"):
            await tx.cases.create(
                locator_hash=b"short", reporter_public_key=os.urandom(32), urgent=False, at=T0
            )


async def test_closing_or_withdrawing_records_when_the_case_ended_and_reopening_clears_it(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx, urgent=True)
        await tx.cases.set_urgent(case.id, True, at=T0, next_escalation_at=at(15))
        triaged = await tx.cases.set_status(case.id, CaseStatus.TRIAGE, at=at(1))
        closed = await tx.cases.set_status(case.id, CaseStatus.CLOSED, at=at(2))
        reopened = await tx.cases.set_status(case.id, CaseStatus.INVESTIGATING, at=at(3))
        withdrawn = await tx.cases.set_status(case.id, CaseStatus.WITHDRAWN, at=at(4))
    assert triaged is not None
    assert triaged.closed_at is None
    assert triaged.next_escalation_at == at(15)
    assert closed is not None
    assert closed.closed_at == at(2)
    assert closed.next_escalation_at is None
    assert reopened is not None
    assert reopened.closed_at is None
    assert withdrawn is not None
    assert withdrawn.closed_at == at(4)
    assert withdrawn.updated_at == at(4)


async def test_a_status_change_based_on_a_stale_status_changes_nothing(database: Database) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
        await tx.cases.set_status(case.id, CaseStatus.TRIAGE, at=at(1), expected=CaseStatus.NEW)
    async with database.transaction() as tx:
        late = await tx.cases.set_status(
            case.id, CaseStatus.CLOSED, at=at(2), expected=CaseStatus.NEW
        )
        missing = await tx.cases.set_status(uuid.uuid4(), CaseStatus.CLOSED, at=at(2))
        current = await tx.cases.get(case.id)
    assert late is None
    assert missing is None
    assert current is not None
    assert current.status is CaseStatus.TRIAGE


async def test_assignment_urgency_and_consent_are_recorded(database: Database) -> None:
    async with database.transaction() as tx:
        person = await add_investigator(tx)
        case, _ = await add_case(tx)
        assigned = await tx.cases.assign(case.id, person.id, at=at(1))
        urgent = await tx.cases.set_urgent(case.id, True, at=at(2), next_escalation_at=at(17))
        asked = await tx.cases.set_consent(case.id, ConsentState.REQUESTED, at=at(3))
        given = await tx.cases.set_consent(case.id, ConsentState.GIVEN, at=at(4))
        unassigned = await tx.cases.assign(case.id, None, at=at(5))
    assert assigned is not None
    assert assigned.assignee_id == person.id
    assert urgent is not None
    assert (urgent.urgent, urgent.next_escalation_at) == (True, at(17))
    assert asked is not None
    assert asked.consent is ConsentState.REQUESTED
    assert given is not None
    assert (given.consent, given.consent_updated_at) == (ConsentState.GIVEN, at(4))
    assert unassigned is not None
    assert unassigned.assignee_id is None
    async with database.transaction(read_only=True) as tx:
        assert await tx.cases.get(case.id) == unassigned


async def test_acknowledging_stops_escalation_and_only_the_first_acknowledgement_counts(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        first = await add_investigator(tx)
        second = await add_investigator(tx)
        case = await tx.cases.create(
            locator_hash=os.urandom(32),
            reporter_public_key=os.urandom(32),
            urgent=True,
            at=T0,
            next_escalation_at=at(10),
        )
    async with database.transaction() as tx:
        acknowledged = await tx.cases.acknowledge(case.id, first.id, at=at(3))
        again = await tx.cases.acknowledge(case.id, second.id, at=at(4))
        due = await tx.cases.due_escalations(now=at(60))
    assert acknowledged is not None
    assert (acknowledged.acknowledged_by, acknowledged.acknowledged_at) == (first.id, at(3))
    assert acknowledged.next_escalation_at is None
    assert again is None
    assert due == []


async def test_due_escalations_are_the_unacknowledged_open_cases_whose_time_has_come(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        person = await add_investigator(tx)

        async def urgent_case(escalate_at: float) -> uuid.UUID:
            case = await tx.cases.create(
                locator_hash=os.urandom(32),
                reporter_public_key=os.urandom(32),
                urgent=True,
                at=T0,
                next_escalation_at=at(escalate_at),
            )
            return case.id

        later_due = await urgent_case(10)
        earlier_due = await urgent_case(5)
        not_yet = await urgent_case(30)
        acknowledged = await urgent_case(5)
        await tx.cases.acknowledge(acknowledged, person.id, at=at(1))
        closed = await urgent_case(5)
        await tx.cases.set_status(closed, CaseStatus.CLOSED, at=at(2))
        await add_case(tx)  # not urgent: never escalates
    async with database.transaction(read_only=True) as tx:
        due = await tx.cases.due_escalations(now=at(10))
        first_only = await tx.cases.due_escalations(now=at(10), limit=1)
    assert [case.id for case in due] == [earlier_due, later_due]
    assert [case.id for case in first_only] == [earlier_due]
    assert not_yet not in {case.id for case in due}


async def test_an_escalation_step_is_taken_once_even_when_two_processes_race(
    database: Database, database_url: str
) -> None:
    async with database.transaction() as tx:
        case = await tx.cases.create(
            locator_hash=os.urandom(32),
            reporter_public_key=os.urandom(32),
            urgent=True,
            at=T0,
            next_escalation_at=at(10),
        )
    other_process = Database.from_url(database_url)

    async def escalate(handle: Database) -> bool:
        async with handle.transaction() as tx:
            advanced = await tx.cases.advance_escalation(
                case.id, from_level=0, next_at=at(20), at=at(10)
            )
            return advanced is not None

    try:
        outcomes = await asyncio.gather(*(escalate(h) for h in [database, other_process] * 4))
    finally:
        await other_process.close()
    assert sorted(outcomes) == [False] * 7 + [True]
    async with database.transaction(read_only=True) as tx:
        stored = await tx.cases.get(case.id)
    assert stored is not None
    assert (stored.escalation_level, stored.next_escalation_at) == (1, at(20))


async def test_retention_finds_closed_withdrawn_and_idle_cases_each_by_its_own_rule(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        closed_long_ago, _ = await add_case(tx, when=at(0))
        await tx.cases.set_status(closed_long_ago.id, CaseStatus.CLOSED, at=at(10))
        closed_recently, _ = await add_case(tx, when=at(0))
        await tx.cases.set_status(closed_recently.id, CaseStatus.CLOSED, at=at(100))
        withdrawn, _ = await add_case(tx, when=at(0))
        await tx.cases.set_status(withdrawn.id, CaseStatus.WITHDRAWN, at=at(100))
        idle, _ = await add_case(tx, when=at(0))
        active, _ = await add_case(tx, when=at(0))
        await tx.messages.append(
            active.id,
            kind=MessageKind.REPLY,
            author_id=None,
            visible_to_reporter=True,
            envelope=envelope(),
            recipients=[Recipient(key_id=key_id(), kind=RecipientKind.REPORTER)],
            at=at(100),
        )
        referred_idle, _ = await add_case(tx, when=at(0))
        await tx.cases.set_status(referred_idle.id, CaseStatus.REFERRED, at=at(1))

    async with database.transaction(read_only=True) as tx:
        due = await tx.cases.due_for_retention(
            closed_before=at(50),
            withdrawn_before=at(101),
            idle_before=at(50),
            idle_statuses=[CaseStatus.NEW, CaseStatus.TRIAGE, CaseStatus.INVESTIGATING],
        )
        nothing = await tx.cases.due_for_retention()
    assert {case.id for case in due} == {closed_long_ago.id, withdrawn.id, idle.id}
    assert nothing == []


async def test_purging_a_case_removes_every_row_of_it_and_hands_back_its_blob_keys(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        person = await add_investigator(tx)
        doomed, tip = await add_case(tx, investigators=[person.id])
        kept, _ = await add_case(tx, investigators=[person.id])
        upload = await tx.attachments.create(
            doomed.id, uploaded_by=None, blob_key=f"blobs/{uuid.uuid4()}", at=at(1)
        )
        await tx.attachments.complete(upload.id, size_bytes=1000, at=at(2))
        broken = await tx.attachments.create(
            doomed.id, uploaded_by=None, blob_key=f"blobs/{uuid.uuid4()}", at=at(3)
        )
        await tx.attachments.create(
            kept.id, uploaded_by=None, blob_key=f"blobs/{uuid.uuid4()}", at=at(3)
        )
        note = await tx.messages.append(
            doomed.id,
            kind=MessageKind.NOTE,
            author_id=person.id,
            visible_to_reporter=False,
            envelope=envelope(),
            recipients=[
                Recipient(
                    key_id=key_id(), kind=RecipientKind.INVESTIGATOR, investigator_id=person.id
                )
            ],
            at=at(4),
        )
    before = await count_rows(database)
    identifiers = [doomed.id, str(doomed.id), doomed.locator_hash, tip.id, note.id, upload.id]
    # The scan sees the case everywhere it lives before the purge...
    assert set(await rows_mentioning(database, identifiers)) == {
        "cases.id",
        "cases.locator_hash",
        "messages.id",
        "messages.case_id",
        "message_recipients.message_id",
        "inbox_entries.case_id",
        "attachments.id",
        "attachments.case_id",
        "outbox.payload",
        "outbox.case_id",
    }

    async with database.transaction() as tx:
        purged = await tx.cases.purge(doomed.id)
        purged_again = await tx.cases.purge(doomed.id)
    assert purged is not None
    assert purged.messages == 2
    assert sorted(purged.blob_keys) == sorted([upload.blob_key, broken.blob_key])
    assert purged_again is None

    # ...and nowhere after it.
    assert await rows_mentioning(database, identifiers) == []
    after = await count_rows(database)
    assert after["cases"] == before["cases"] - 1
    assert after["messages"] == before["messages"] - 2
    async with database.transaction(read_only=True) as tx:
        assert await tx.cases.get(kept.id) == kept
        assert len(await tx.attachments.list_for_case(kept.id, complete_only=False)) == 1
        assert await tx.inbox.investigators_of_case(kept.id) == [person.id]
