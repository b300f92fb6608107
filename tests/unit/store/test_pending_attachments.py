"""Uploads for a tip not sent yet: recorded with no case, claimed once, swept when abandoned."""

from __future__ import annotations

import uuid
from uuid import UUID

from gateway.store import Database, Transaction
from gateway.store.records import Attachment, AttachmentState
from tests.unit.store.builders import add_case, at


async def test_an_upload_for_a_tip_not_sent_yet_belongs_to_no_case(database: Database) -> None:
    async with database.transaction() as tx:
        started = await tx.attachments.create(None, uploaded_by=None, blob_key="a" * 32, at=at(1))
        completed = await tx.attachments.complete(started.id, size_bytes=65_577, at=at(2))
    assert started.case_id is None
    assert completed is not None
    assert (completed.case_id, completed.state) == (None, AttachmentState.COMPLETE)


async def test_a_tip_claims_its_finished_uploads_once(database: Database) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
        other, _ = await add_case(tx)
        first = await tx.attachments.create(None, uploaded_by=None, blob_key="b" * 32, at=at(1))
        second = await tx.attachments.create(None, uploaded_by=None, blob_key="c" * 32, at=at(1))
        await tx.attachments.complete(first.id, size_bytes=1, at=at(2))
        await tx.attachments.complete(second.id, size_bytes=1, at=at(2))
        claimed = await tx.attachments.claim([first.id, second.id], case_id=case.id)
        claimed_again = await tx.attachments.claim([first.id], case_id=other.id)
        listed = await tx.attachments.list_for_case(case.id)
        listed_for_other = await tx.attachments.list_for_case(other.id)
    assert (claimed, claimed_again) == (2, 0)
    assert {attachment.id for attachment in listed} == {first.id, second.id}
    assert listed_for_other == []


async def test_an_upload_still_arriving_cannot_be_claimed(database: Database) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
        arriving = await tx.attachments.create(None, uploaded_by=None, blob_key="d" * 32, at=at(1))
        claimed = await tx.attachments.claim([arriving.id, uuid.uuid4()], case_id=case.id)
        stored = await tx.attachments.get(arriving.id)
    assert claimed == 0
    assert stored is not None
    assert stored.case_id is None


async def test_claiming_nothing_changes_nothing(database: Database) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
        assert await tx.attachments.claim([], case_id=case.id) == 0


async def test_abandoned_uploads_are_deleted_once_they_are_old_enough(database: Database) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
        abandoned = await tx.attachments.create(None, uploaded_by=None, blob_key="e" * 32, at=at(1))
        recent = await tx.attachments.create(None, uploaded_by=None, blob_key="f" * 32, at=at(1))
        claimed = await tx.attachments.create(None, uploaded_by=None, blob_key="0" * 32, at=at(1))
        arriving = await tx.attachments.create(None, uploaded_by=None, blob_key="1" * 32, at=at(1))
        await tx.attachments.complete(abandoned.id, size_bytes=1, at=at(2))
        await tx.attachments.complete(recent.id, size_bytes=1, at=at(40))
        await tx.attachments.complete(claimed.id, size_bytes=1, at=at(2))
        await tx.attachments.claim([claimed.id], case_id=case.id)
        deleted = await tx.attachments.delete_unclaimed(completed_before=at(30))
        kept = await _existing(tx, abandoned, recent, claimed, arriving)
    assert deleted == ["e" * 32]
    assert kept == {recent.id, claimed.id, arriving.id}


async def test_stalled_uploads_are_deleted_and_finished_ones_kept(database: Database) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
        stalled = await tx.attachments.create(
            case.id, uploaded_by=None, blob_key="2" * 32, at=at(1)
        )
        pending = await tx.attachments.create(None, uploaded_by=None, blob_key="3" * 32, at=at(2))
        running = await tx.attachments.create(None, uploaded_by=None, blob_key="4" * 32, at=at(50))
        done = await tx.attachments.create(case.id, uploaded_by=None, blob_key="5" * 32, at=at(1))
        await tx.attachments.complete(done.id, size_bytes=1, at=at(3))
        deleted = await tx.attachments.delete_stalled(started_before=at(30))
        kept = await _existing(tx, stalled, pending, running, done)
    assert sorted(deleted) == ["2" * 32, "3" * 32]
    assert kept == {running.id, done.id}


async def test_a_sweep_deletes_at_most_its_limit_oldest_first(database: Database) -> None:
    async with database.transaction() as tx:
        for index in range(3):
            upload = await tx.attachments.create(
                None, uploaded_by=None, blob_key=f"{index}" * 32, at=at(index)
            )
            await tx.attachments.complete(upload.id, size_bytes=1, at=at(index))
        first = await tx.attachments.delete_unclaimed(completed_before=at(30), limit=2)
        rest = await tx.attachments.delete_unclaimed(completed_before=at(30), limit=2)
    assert sorted(first) == ["0" * 32, "1" * 32]
    assert rest == ["2" * 32]


async def _existing(tx: Transaction, *attachments: Attachment) -> set[UUID]:
    return {a.id for a in attachments if await tx.attachments.get(a.id) is not None}
