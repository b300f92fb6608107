"""Cases: creation, look-up by locator hash, state changes, escalation timers and retention."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any, Final, cast
from uuid import UUID

from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from gateway.store.errors import LocatorTaken
from gateway.store.models import (
    AttachmentRow,
    CaseRow,
    InboxEntryRow,
    MessageRecipientRow,
    MessageRow,
    OutboxRow,
)
from gateway.store.records import Case, CaseStatus, ConsentState, PurgedCase, field_values
from gateway.store.session import StoreSession

CASES: Final = cast(Table, CaseRow.__table__)

# Statuses in which a case has ended; `closed_at` says since when.
ENDED_STATUSES = frozenset({CaseStatus.CLOSED, CaseStatus.WITHDRAWN})


def case_record(row: CaseRow) -> Case:
    return Case(
        id=row.id,
        locator_hash=row.locator_hash,
        reporter_public_key=row.reporter_public_key,
        status=CaseStatus(row.status),
        urgent=row.urgent,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_activity_at=row.last_activity_at,
        last_message_seq=row.last_message_seq,
        assignee_id=row.assignee_id,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        escalation_level=row.escalation_level,
        next_escalation_at=row.next_escalation_at,
        consent=ConsentState(row.consent) if row.consent is not None else None,
        consent_updated_at=row.consent_updated_at,
        closed_at=row.closed_at,
    )


class CaseRepository:
    def __init__(self, session: StoreSession) -> None:
        self._session = session

    async def create(
        self,
        *,
        locator_hash: bytes,
        reporter_public_key: bytes,
        urgent: bool,
        at: datetime,
        next_escalation_at: datetime | None = None,
    ) -> Case:
        """A new case in status `new`, with no messages yet (append the tip in the same unit)."""
        if len(locator_hash) != 32 or len(reporter_public_key) != 32:
            raise ValueError("locator hash and reporter public key are 32 bytes each")
        case = Case.opened(
            case_id=uuid.uuid4(),
            locator_hash=locator_hash,
            reporter_public_key=reporter_public_key,
            urgent=urgent,
            at=at,
            next_escalation_at=next_escalation_at,
        )
        try:
            # A Core insert: the ORM's unit of work costs several times the CPU per row and
            # nothing here needs it (the record is built from the values).
            await self._session.execute(insert(CASES).values(field_values(case)))
        except IntegrityError as error:
            raise LocatorTaken("a case with this locator exists already") from error
        return case

    async def get(self, case_id: UUID) -> Case | None:
        row = await self._session.scalar(select(CaseRow).where(CaseRow.id == case_id))
        return case_record(row) if row is not None else None

    async def lock(self, case_id: UUID) -> Case | None:
        """The case, its row locked until the unit ends, so a decision on it stays true.

        PostgreSQL takes a row lock (`FOR UPDATE`): a concurrent message append or status
        change waits, then finds whatever this unit left. SQLite's write units already hold
        the whole database.
        """
        row = await self._session.scalar(
            select(CaseRow)
            .where(CaseRow.id == case_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return case_record(row) if row is not None else None

    async def find_by_locator_hash(self, locator_hash: bytes) -> Case | None:
        row = await self._session.scalar(
            select(CaseRow).where(CaseRow.locator_hash == locator_hash)
        )
        return case_record(row) if row is not None else None

    async def set_status(
        self,
        case_id: UUID,
        status: CaseStatus,
        *,
        at: datetime,
        expected: CaseStatus | None = None,
    ) -> Case | None:
        """Change the status; with `expected`, only if nobody changed it meanwhile.

        Returns None when the case is missing or its status was not `expected`.
        """
        conditions = [CaseRow.id == case_id]
        if expected is not None:
            conditions.append(CaseRow.status == expected)
        closed_at = at if status in ENDED_STATUSES else None
        values: dict[str, Any] = {"status": status, "updated_at": at, "closed_at": closed_at}
        if status in ENDED_STATUSES:
            # An ended case escalates no further.
            values["next_escalation_at"] = None
        return await self._update(conditions, values)

    async def assign(self, case_id: UUID, assignee_id: UUID | None, *, at: datetime) -> Case | None:
        return await self._update(
            [CaseRow.id == case_id], {"assignee_id": assignee_id, "updated_at": at}
        )

    async def set_urgent(
        self,
        case_id: UUID,
        urgent: bool,
        *,
        at: datetime,
        next_escalation_at: datetime | None,
    ) -> Case | None:
        return await self._update(
            [CaseRow.id == case_id],
            {"urgent": urgent, "next_escalation_at": next_escalation_at, "updated_at": at},
        )

    async def acknowledge(self, case_id: UUID, by: UUID, *, at: datetime) -> Case | None:
        """Record the first acknowledgement and stop escalation; None if already acknowledged."""
        return await self._update(
            [CaseRow.id == case_id, CaseRow.acknowledged_at.is_(None)],
            {
                "acknowledged_at": at,
                "acknowledged_by": by,
                "next_escalation_at": None,
                "updated_at": at,
            },
        )

    async def due_escalations(self, *, now: datetime, limit: int = 100) -> list[Case]:
        """Urgent, unacknowledged, open cases whose escalation time has come, oldest first."""
        rows = await self._session.scalars(
            select(CaseRow)
            .where(
                CaseRow.next_escalation_at <= now,
                CaseRow.acknowledged_at.is_(None),
                CaseRow.status.not_in(ENDED_STATUSES),
            )
            .order_by(CaseRow.next_escalation_at, CaseRow.id)
            .limit(limit)
        )
        return [case_record(row) for row in rows]

    async def advance_escalation(
        self,
        case_id: UUID,
        *,
        from_level: int,
        next_at: datetime | None,
        at: datetime,
    ) -> Case | None:
        """Move from `from_level` to the next level, once: a second process gets None.

        The level works as a compare-and-set token, so that an escalation fires exactly
        once even when several gateway processes see it due at the same moment.
        """
        return await self._update(
            [
                CaseRow.id == case_id,
                CaseRow.escalation_level == from_level,
                CaseRow.acknowledged_at.is_(None),
            ],
            {
                "escalation_level": from_level + 1,
                "next_escalation_at": next_at,
                "updated_at": at,
            },
        )

    async def set_consent(
        self, case_id: UUID, consent: ConsentState | None, *, at: datetime
    ) -> Case | None:
        return await self._update(
            [CaseRow.id == case_id],
            {"consent": consent, "consent_updated_at": at, "updated_at": at},
        )

    async def due_for_retention(
        self,
        *,
        closed_before: datetime | None = None,
        withdrawn_before: datetime | None = None,
        idle_before: datetime | None = None,
        idle_statuses: Collection[CaseStatus] = tuple(CaseStatus),
        limit: int = 100,
    ) -> list[Case]:
        """Cases closed or withdrawn before the given times, or without activity since one.

        A None time switches that rule off. Oldest activity first.
        """
        rules = []
        if closed_before is not None:
            rules.append(
                (CaseRow.status == CaseStatus.CLOSED) & (CaseRow.closed_at < closed_before)
            )
        if withdrawn_before is not None:
            rules.append(
                (CaseRow.status == CaseStatus.WITHDRAWN) & (CaseRow.closed_at < withdrawn_before)
            )
        if idle_before is not None and idle_statuses:
            rules.append(
                CaseRow.status.in_(list(idle_statuses)) & (CaseRow.last_activity_at < idle_before)
            )
        if not rules:
            return []
        rows = await self._session.scalars(
            select(CaseRow)
            .where(or_(*rules))
            .order_by(CaseRow.last_activity_at, CaseRow.id)
            .limit(limit)
        )
        return [case_record(row) for row in rows]

    async def purge(self, case_id: UUID) -> PurgedCase | None:
        """Delete the case and every row that belongs to it; the blobs are left to the caller.

        Audit entries stay (they are content-free and must outlive the case).
        """
        exists = await self._session.scalar(select(CaseRow.id).where(CaseRow.id == case_id))
        if exists is None:
            return None
        blob_keys = tuple(
            await self._session.scalars(
                select(AttachmentRow.blob_key)
                .where(AttachmentRow.case_id == case_id)
                .order_by(AttachmentRow.blob_key)
            )
        )
        message_ids = select(MessageRow.id).where(MessageRow.case_id == case_id)
        await self._session.execute(
            delete(MessageRecipientRow).where(MessageRecipientRow.message_id.in_(message_ids))
        )
        messages = await self._session.execute(
            delete(MessageRow).where(MessageRow.case_id == case_id)
        )
        await self._session.execute(delete(InboxEntryRow).where(InboxEntryRow.case_id == case_id))
        await self._session.execute(delete(AttachmentRow).where(AttachmentRow.case_id == case_id))
        await self._session.execute(delete(OutboxRow).where(OutboxRow.case_id == case_id))
        await self._session.execute(delete(CaseRow).where(CaseRow.id == case_id))
        return PurgedCase(
            case_id=case_id,
            messages=_rowcount(messages),
            attachments=len(blob_keys),
            blob_keys=blob_keys,
        )

    async def _update(self, conditions: list[Any], values: dict[str, Any]) -> Case | None:
        row = await self._session.scalar(
            update(CaseRow)
            .where(*conditions)
            .values(**values)
            .returning(CaseRow)
            .execution_options(synchronize_session="fetch")
        )
        return case_record(row) if row is not None else None


def _rowcount(result: Any) -> int:
    return int(result.rowcount)
