"""The audit log as stored: a hash chain whose hashes the caller computes and the store orders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from uuid import UUID

from sqlalchemy import func, select

from gateway.store.errors import AuditChainRefused
from gateway.store.models import AuditEntryRow
from gateway.store.records import AuditEntry, AuditLink
from gateway.store.session import StoreSession

FIRST_AUDIT_SEQ = 1

# A fixed advisory lock number that serialises audit appends on PostgreSQL (any constant
# that no other part of the project uses; this one spells "tipaudit" in ASCII).
AUDIT_CHAIN_LOCK = 0x7469706175646974


def _record(row: AuditEntryRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        recorded_at=row.recorded_at,
        actor_id=row.actor_id,
        action=row.action,
        case_id=row.case_id,
        details=dict(row.details),
        prev_hash=row.prev_hash,
        entry_hash=row.entry_hash,
    )


class AuditRepository:
    def __init__(self, session: StoreSession) -> None:
        self._session = session

    async def append(self, seal: Callable[[AuditLink], AuditEntry]) -> AuditEntry:
        """Append the entry that `seal` builds for the current tail of the chain.

        `seal` receives the sequence number and previous hash the entry must carry and
        returns the complete entry with its hash. Appends are serialised until commit
        (an advisory lock on PostgreSQL; SQLite has a single writer), so two processes
        never chain onto the same tail.
        """
        if self._session.on_postgresql:
            await self._session.execute(select(func.pg_advisory_xact_lock(AUDIT_CHAIN_LOCK)))
        tail = await self.tail()
        link = AuditLink(
            seq=tail.seq + 1 if tail is not None else FIRST_AUDIT_SEQ,
            prev_hash=tail.entry_hash if tail is not None else None,
        )
        entry = seal(link)
        if entry.seq != link.seq or (tail is not None and entry.prev_hash != tail.entry_hash):
            raise AuditChainRefused("the entry does not chain onto the current tail")
        self._session.add(
            AuditEntryRow(
                seq=entry.seq,
                recorded_at=entry.recorded_at,
                actor_id=entry.actor_id,
                action=entry.action,
                case_id=entry.case_id,
                details=dict(entry.details),
                prev_hash=entry.prev_hash,
                entry_hash=entry.entry_hash,
            )
        )
        await self._session.flush()
        return entry

    async def tail(self) -> AuditEntry | None:
        row = await self._session.scalar(
            select(AuditEntryRow).order_by(AuditEntryRow.seq.desc()).limit(1)
        )
        return _record(row) if row is not None else None

    async def list_after(self, after_seq: int = 0, *, limit: int = 500) -> list[AuditEntry]:
        rows = await self._session.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.seq > after_seq)
            .order_by(AuditEntryRow.seq)
            .limit(limit)
        )
        return [_record(row) for row in rows]

    async def iterate(self, *, batch_size: int = 500) -> AsyncIterator[AuditEntry]:
        """Every entry in sequence order, fetched in batches (for verifying the whole chain)."""
        after = 0
        while True:
            batch = await self.list_after(after, limit=batch_size)
            for entry in batch:
                yield entry
            if len(batch) < batch_size:
                return
            after = batch[-1].seq

    async def for_case(self, case_id: UUID) -> list[AuditEntry]:
        """The case's part of the trail, in sequence order (it survives the case's purge)."""
        rows = await self._session.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.case_id == case_id)
            .order_by(AuditEntryRow.seq)
        )
        return [_record(row) for row in rows]
