"""The signed directory as stored: an append-only list of entries, exactly as signed."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.store.errors import DirectorySequenceRefused
from gateway.store.models import DirectoryEntryRow
from gateway.store.records import DirectoryEntry, DirectoryEntryKind
from gateway.store.session import StoreSession

FIRST_DIRECTORY_SEQ = 1


def _record(row: DirectoryEntryRow) -> DirectoryEntry:
    return DirectoryEntry(
        seq=row.seq,
        entry_bytes=row.entry_bytes,
        signature=row.signature,
        entry_hash=row.entry_hash,
        kind=DirectoryEntryKind(row.kind),
        investigator_id=row.investigator_id,
        recorded_at=row.recorded_at,
    )


# A plain unit's statements (Database.plain_transaction), on PostgreSQL's driver.
_HEAD = "SELECT seq, entry_hash FROM directory_entries ORDER BY seq DESC LIMIT 1"
_ALL = (
    "SELECT seq, entry_bytes, signature, entry_hash, kind, investigator_id, recorded_at "
    "FROM directory_entries ORDER BY seq"
)


def _record_of(record: Any) -> DirectoryEntry:
    """A directory entry from the driver's row (a plain unit)."""
    return DirectoryEntry(
        seq=record["seq"],
        entry_bytes=bytes(record["entry_bytes"]),
        signature=bytes(record["signature"]),
        entry_hash=bytes(record["entry_hash"]),
        kind=DirectoryEntryKind(record["kind"]),
        investigator_id=UUID(str(record["investigator_id"])),
        recorded_at=record["recorded_at"],
    )


class DirectoryRepository:
    def __init__(self, session: StoreSession) -> None:
        self._session = session

    async def append(
        self,
        *,
        seq: int,
        entry_bytes: bytes,
        signature: bytes,
        entry_hash: bytes,
        kind: DirectoryEntryKind,
        investigator_id: UUID,
        at: datetime,
    ) -> DirectoryEntry:
        """Append the entry if it carries the next sequence number; refuse it otherwise.

        The caller has verified the signature and the chain; the store only guarantees
        that the list never forks: of two entries with one number, one is refused.
        """
        tail = await self.tail()
        expected = tail.seq + 1 if tail is not None else FIRST_DIRECTORY_SEQ
        if seq != expected:
            raise DirectorySequenceRefused(f"the next directory entry is number {expected}")
        row = DirectoryEntryRow(
            seq=seq,
            entry_bytes=entry_bytes,
            signature=signature,
            entry_hash=entry_hash,
            kind=kind,
            investigator_id=investigator_id,
            recorded_at=at,
        )
        self._session.add(row)
        try:
            await self._session.flush()
        except IntegrityError as error:
            raise DirectorySequenceRefused("this directory entry number is taken") from error
        return _record(row)

    async def head(self) -> tuple[int, bytes] | None:
        """The last entry's sequence number and hash: all a cached directory needs to know
        whether it is still current."""
        if self._session.plain:
            rows = await self._session.run_on_postgresql(_HEAD)
            return (rows[0][0], bytes(rows[0][1])) if rows else None
        found = (
            await self._session.execute(
                select(DirectoryEntryRow.seq, DirectoryEntryRow.entry_hash)
                .order_by(DirectoryEntryRow.seq.desc())
                .limit(1)
            )
        ).first()
        return None if found is None else (found[0], found[1])

    async def tail(self) -> DirectoryEntry | None:
        row = await self._session.scalar(
            select(DirectoryEntryRow).order_by(DirectoryEntryRow.seq.desc()).limit(1)
        )
        return _record(row) if row is not None else None

    async def list_all(self) -> list[DirectoryEntry]:
        if self._session.plain:
            return [_record_of(record) for record in await self._session.run_on_postgresql(_ALL)]
        rows = await self._session.scalars(
            select(DirectoryEntryRow).order_by(DirectoryEntryRow.seq)
        )
        return [_record(row) for row in rows]
