"""Uploads for a tip not sent yet: recorded with no case, claimed once, swept when abandoned."""

from __future__ import annotations

import uuid

from gateway.store import Database
from gateway.store.records import AttachmentState
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


async def test_unclaimed_uploads_are_found_once_they_are_old_enough(database: Database) -> None:
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
        found = await tx.attachments.unclaimed(completed_before=at(30))
        stale = await tx.attachments.stale_uploads(started_before=at(30))
    assert [attachment.id for attachment in found] == [abandoned.id]
    assert [attachment.id for attachment in stale] == [arriving.id]
