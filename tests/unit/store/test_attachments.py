"""Attachment records: an upload counts once complete; broken uploads can be found and removed."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import exc

from gateway.store import Database
from gateway.store.records import AttachmentState
from tests.unit.store.builders import add_case, add_investigator, at


async def test_an_upload_is_listed_only_once_it_is_complete(database: Database) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
        started = await tx.attachments.create(
            case.id, uploaded_by=None, blob_key="blobs/a", at=at(1)
        )
        listed_while_uploading = await tx.attachments.list_for_case(case.id)
        completed = await tx.attachments.complete(started.id, size_bytes=65_536, at=at(2))
        listed = await tx.attachments.list_for_case(case.id)
    assert started.state is AttachmentState.UPLOADING
    assert listed_while_uploading == []
    assert completed is not None
    assert (completed.state, completed.size_bytes, completed.completed_at) == (
        AttachmentState.COMPLETE,
        65_536,
        at(2),
    )
    assert listed == [completed]


async def test_an_upload_completes_only_once(database: Database) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
        started = await tx.attachments.create(
            case.id, uploaded_by=None, blob_key="blobs/a", at=at(1)
        )
        await tx.attachments.complete(started.id, size_bytes=10, at=at(2))
        again = await tx.attachments.complete(started.id, size_bytes=99, at=at(3))
        unknown = await tx.attachments.complete(uuid.uuid4(), size_bytes=1, at=at(3))
        stored = await tx.attachments.get(started.id)
    assert again is None
    assert unknown is None
    assert stored is not None
    assert stored.size_bytes == 10


async def test_deleting_an_attachment_hands_back_its_blob_key(database: Database) -> None:
    async with database.transaction() as tx:
        person = await add_investigator(tx)
        case, _ = await add_case(tx)
        attachment = await tx.attachments.create(
            case.id, uploaded_by=person.id, blob_key="blobs/b", at=at(1)
        )
        blob_key = await tx.attachments.delete(attachment.id)
        gone = await tx.attachments.get(attachment.id)
        nothing = await tx.attachments.delete(attachment.id)
    assert blob_key == "blobs/b"
    assert gone is None
    assert nothing is None


async def test_uploads_that_never_finished_are_found_for_cleanup(database: Database) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
        broken = await tx.attachments.create(case.id, uploaded_by=None, blob_key="b/1", at=at(1))
        running = await tx.attachments.create(case.id, uploaded_by=None, blob_key="b/2", at=at(50))
        finished = await tx.attachments.create(case.id, uploaded_by=None, blob_key="b/3", at=at(1))
        await tx.attachments.complete(finished.id, size_bytes=5, at=at(2))
        stale = await tx.attachments.stale_uploads(started_before=at(30))
        everything = await tx.attachments.list_for_case(case.id, complete_only=False)
    assert stale == [broken]
    assert {attachment.id for attachment in everything} == {broken.id, running.id, finished.id}


async def test_an_attachment_id_chosen_by_the_caller_is_kept(database: Database) -> None:
    chosen = uuid.uuid4()
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
        attachment = await tx.attachments.create(
            case.id, uploaded_by=None, blob_key=f"blobs/{chosen}", at=at(1), attachment_id=chosen
        )
    assert attachment.id == chosen


async def test_an_attachment_needs_an_existing_case(database: Database) -> None:
    async def attach_to_nothing() -> None:
        async with database.transaction() as tx:
            await tx.attachments.create(uuid.uuid4(), uploaded_by=None, blob_key="x", at=at(1))

    with pytest.raises(exc.IntegrityError):
        await attach_to_nothing()
