"""Reporters' encrypted attachments: streamed in under a limit, claimed by the message that
lists them, streamed out to whoever may read the case, and swept when abandoned.

A new tip's files are uploaded before the tip (their ids and keys travel inside its
envelope), so such an upload belongs to no case until the tip claims it. The server sees
only ciphertext whose length it checks against the stream framing of docs/PROTOCOL.md.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final
from uuid import UUID

from gateway.blobs import BlobNotFound, BlobTooLarge
from gateway.blobs.interface import BlobError
from gateway.crypto.padding import padme
from gateway.crypto.pickup import Locator
from gateway.crypto.stream import CHUNK_BYTES, HEADER_BYTES, OVERHEAD_BYTES, RECORD_BYTES
from gateway.domain.accounts import Caller
from gateway.domain.admission import Paid
from gateway.domain.casework import NoSuchCase
from gateway.domain.errors import (
    CaseNotFound,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UnknownAttachment,
)
from gateway.domain.hotline import Hotline
from gateway.domain.reporter_access import LOOKUP, REPLY, SUBMIT, find_case
from gateway.store import DatabaseUnavailable, Transaction
from gateway.store.records import AttachmentState

logger = logging.getLogger("gateway.domain.attachments")

# A tip is sent right after its files are uploaded; a day is ample for a slow connection
# and bounds how long ciphertext nobody claimed stays on disk.
UNCLAIMED_UPLOAD_LIFETIME: Final = timedelta(hours=24)
# An upload still arriving after this long is treated as broken (2 GiB over Tor at
# 50 KB/s takes about 12 hours).
STALLED_UPLOAD_LIFETIME: Final = timedelta(hours=24)
# The sweep runs at most this often across all gateway processes.
SWEEP_INTERVAL_SECONDS: Final = 600
_SWEEP_KEY: Final = "attachments:sweep"
SWEEP_BATCH: Final = 100
MAX_ATTACHMENTS_PER_MESSAGE: Final = 64


def is_ciphertext_length(length: int) -> bool:
    """Whether `length` is the size of some attachment stream (docs/PROTOCOL.md).

    A stream is header + P + 17 per 64 KiB record, where P (the padded plaintext) is at
    least one chunk and a fixed point of Padmé. Refusing other lengths keeps the padding
    honest, so sizes on disk leak no more than the protocol allows.
    """
    body = length - HEADER_BYTES
    if body < RECORD_BYTES:
        return False
    records = -(-body // RECORD_BYTES)
    padded = body - records * OVERHEAD_BYTES
    return (
        padded >= CHUNK_BYTES and -(-padded // CHUNK_BYTES) == records and padme(padded) == padded
    )


@dataclass(frozen=True, slots=True)
class ReceivedUpload:
    id: UUID
    size: int


def upload_purpose(locator: Locator | None) -> str:
    """What an upload's proof is for: a tip not sent yet (no locator) or a reply."""
    return SUBMIT if locator is None else REPLY


async def receive_upload(
    hotline: Hotline,
    chunks: AsyncIterable[bytes],
    *,
    locator: Locator | None,
    paid: Paid,
    declared_length: int | None,
) -> ReceivedUpload:
    """Stream an encrypted attachment to blob storage, never holding it whole.

    With a locator the upload belongs to that case at once (for a reply); without one it
    is for a tip not sent yet and waits to be claimed. The size limit is enforced while the
    bytes arrive; a refused or broken upload leaves no blob and no row behind.
    """
    limit = hotline.limits.max_attachment_bytes
    if declared_length is not None:
        _check_length(declared_length, limit)
    paid.require(upload_purpose(locator))
    await sweep_if_due(hotline)
    # Random and independent of the id: the blob folder's names reveal no attachment ids.
    blob_key = secrets.token_hex(16)
    async with hotline.database.transaction() as tx:
        case_id = None if locator is None else (await find_case(tx, hotline, locator)).id
        started = await tx.attachments.create(
            case_id, uploaded_by=None, blob_key=blob_key, at=hotline.clock.now()
        )
    try:
        size = await hotline.blobs.write(blob_key, chunks, max_bytes=limit)
        _check_length(size, limit)
        async with hotline.database.transaction() as tx:
            completed = await tx.attachments.complete(
                started.id, size_bytes=size, at=hotline.clock.now()
            )
        if completed is None:
            raise UnknownAttachment(
                "The case was withdrawn or the upload expired while it arrived."
            )
    except BlobTooLarge:
        await _forget(hotline, started.id, blob_key)
        raise PayloadTooLarge(f"An attachment may have at most {limit} bytes.") from None
    except BaseException:
        # Cancellation and broken connections included: nothing of the upload may remain.
        await _forget(hotline, started.id, blob_key)
        raise
    return ReceivedUpload(id=started.id, size=size)


def _check_length(length: int, limit: int) -> None:
    if length > limit:
        raise PayloadTooLarge(f"An attachment may have at most {limit} bytes.")
    if not is_ciphertext_length(length):
        raise InvalidInput(
            "The body is not an attachment stream: its length does not match the protocol's "
            "framing and padding."
        )


async def _forget(hotline: Hotline, attachment_id: UUID, blob_key: str) -> None:
    """Best effort: whatever fails here is left to the sweep, never to the caller."""
    try:
        await hotline.blobs.delete(blob_key)
    except (BlobError, OSError):
        logger.warning("upload_blob_not_removed")
    try:
        async with hotline.database.transaction() as tx:
            await tx.attachments.delete(attachment_id)
    except DatabaseUnavailable:
        logger.warning("upload_row_not_removed")


async def link_to_case(
    tx: Transaction, attachment_ids: Collection[UUID], *, case_id: UUID, new_case: bool
) -> None:
    """Give the listed finished uploads to the case in the unit that stores its message.

    A new tip may list only uploads that belong to no case yet; a reply may also list
    uploads made to its own case. Anything else refuses the whole message.
    """
    pending = []
    for attachment_id in attachment_ids:
        attachment = await tx.attachments.get(attachment_id)
        if attachment is None or attachment.state is not AttachmentState.COMPLETE:
            raise UnknownAttachment
        if attachment.case_id is None:
            pending.append(attachment_id)
        elif new_case or attachment.case_id != case_id:
            raise UnknownAttachment
    # Conditional: a sweep or another message that took an upload first makes this fail.
    if await tx.attachments.claim(pending, case_id=case_id) != len(pending):
        raise UnknownAttachment


@dataclass(frozen=True, slots=True)
class AttachmentDownload:
    size: int
    first_chunk: bytes = field(repr=False)
    rest: AsyncIterator[bytes] = field(repr=False)


async def open_for_reporter(
    hotline: Hotline, locator: Locator, paid: Paid, case_id: str, attachment_id: str
) -> AttachmentDownload:
    """A reporter's download: the attachment must be complete and belong to their case."""
    paid.require(LOOKUP)
    async with hotline.database.transaction(read_only=True) as tx:
        case = await find_case(tx, hotline, locator)
        if str(case.id) != case_id:
            raise CaseNotFound
        wanted = _parse_id(attachment_id)
        attachment = None if wanted is None else await tx.attachments.get(wanted)
    if (
        attachment is None
        or attachment.case_id != case.id
        or attachment.state is not AttachmentState.COMPLETE
    ):
        raise NotFound("This case has no such attachment.")
    return await _stream(hotline, attachment.blob_key, attachment.size_bytes)


async def open_for_investigator(
    hotline: Hotline, caller: Caller, case_id: str, attachment_id: str
) -> AttachmentDownload:
    """An investigator's download: only on a case they are on; each one is audited."""
    case = _parse_id(case_id)
    wanted = _parse_id(attachment_id)
    async with hotline.database.transaction(read_only=True) as tx:
        if case is None or await tx.inbox.entry(caller.id, case) is None:
            raise NoSuchCase
        attachment = None if wanted is None else await tx.attachments.get(wanted)
    if (
        attachment is None
        or attachment.case_id != case
        or attachment.state is not AttachmentState.COMPLETE
    ):
        raise NotFound("This case has no such attachment.")
    found = await _stream(hotline, attachment.blob_key, attachment.size_bytes)
    # Who fetched which file, for the chain of custody (recorded once the blob opened).
    async with hotline.database.transaction() as tx:
        await hotline.audit.record(
            tx,
            action="case.download",
            actor_id=caller.id,
            case_id=case,
            details={"attachment": str(attachment.id)},
        )
    return found


async def _stream(hotline: Hotline, blob_key: str, size: int) -> AttachmentDownload:
    # Read the first chunk before anything is sent, so a missing blob is still a clean 404.
    chunks = hotline.blobs.read(blob_key)
    try:
        first = await anext(chunks, b"")
    except BlobNotFound:
        logger.error("attachment_blob_missing")
        raise NotFound("This attachment's data is missing.") from None
    return AttachmentDownload(size=size, first_chunk=first, rest=chunks)


def _parse_id(text: str) -> UUID | None:
    try:
        parsed = UUID(text)
    except ValueError:
        return None
    return parsed if str(parsed) == text else None


async def delete_blobs(hotline: Hotline, blob_keys: Sequence[str]) -> None:
    """Delete blobs whose rows are gone; a failure is logged (counts only) and not raised."""
    failed = 0
    for blob_key in blob_keys:
        try:
            await hotline.blobs.delete(blob_key)
        except (BlobError, OSError):
            failed += 1
    if failed:
        logger.error("blobs_not_deleted", extra={"count": failed})


@dataclass(frozen=True, slots=True)
class SweepResult:
    unclaimed: int
    stalled: int
    partial_files: int


async def sweep_abandoned_uploads(hotline: Hotline, *, limit: int = SWEEP_BATCH) -> SweepResult:
    """Remove uploads no message claimed in time and uploads that never finished."""
    now = hotline.clock.now()
    async with hotline.database.transaction() as tx:
        unclaimed = await tx.attachments.delete_unclaimed(
            completed_before=now - UNCLAIMED_UPLOAD_LIFETIME, limit=limit
        )
        stalled = await tx.attachments.delete_stalled(
            started_before=now - STALLED_UPLOAD_LIFETIME, limit=limit
        )
    await delete_blobs(hotline, [*unclaimed, *stalled])
    partial = await hotline.blobs.sweep_partial(STALLED_UPLOAD_LIFETIME.total_seconds())
    if unclaimed or stalled or partial:
        logger.info(
            "uploads_swept",
            extra={"unclaimed": len(unclaimed), "stalled": len(stalled), "partial": partial},
        )
    return SweepResult(unclaimed=len(unclaimed), stalled=len(stalled), partial_files=partial)


async def sweep_if_due(hotline: Hotline) -> SweepResult | None:
    """Run the sweep if no process ran it within the interval (called as uploads arrive)."""
    if not await hotline.broker.remember_once(_SWEEP_KEY, ttl=SWEEP_INTERVAL_SECONDS):
        return None
    return await sweep_abandoned_uploads(hotline)
