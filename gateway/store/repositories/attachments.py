"""Attachment records: where a case's encrypted blob lives and whether its upload finished.

A new tip's attachments are uploaded before the tip exists (their ids and keys travel inside
the tip's envelope), so such an upload belongs to no case until the tip claims it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, update

from gateway.store.models import AttachmentRow
from gateway.store.records import Attachment, AttachmentState
from gateway.store.session import StoreSession


def _record(row: AttachmentRow) -> Attachment:
    return Attachment(
        id=row.id,
        case_id=row.case_id,
        uploaded_by=row.uploaded_by,
        blob_key=row.blob_key,
        size_bytes=row.size_bytes,
        state=AttachmentState(row.state),
        created_at=row.created_at,
        completed_at=row.completed_at,
    )


class AttachmentRepository:
    def __init__(self, session: StoreSession) -> None:
        self._session = session

    async def create(
        self,
        case_id: UUID | None,
        *,
        uploaded_by: UUID | None,
        blob_key: str,
        at: datetime,
        attachment_id: UUID | None = None,
    ) -> Attachment:
        """Record an upload that is starting; it counts only once `complete` is called.

        `case_id` None records an upload for a tip not sent yet (see `claim`).
        """
        row = AttachmentRow(
            id=attachment_id or uuid.uuid4(),
            case_id=case_id,
            uploaded_by=uploaded_by,
            blob_key=blob_key,
            size_bytes=0,
            state=AttachmentState.UPLOADING,
            created_at=at,
        )
        self._session.add(row)
        await self._session.flush()
        return _record(row)

    async def complete(
        self, attachment_id: UUID, *, size_bytes: int, at: datetime
    ) -> Attachment | None:
        """Mark a finished upload; None if it is unknown or was completed before."""
        row = await self._session.scalar(
            update(AttachmentRow)
            .where(
                AttachmentRow.id == attachment_id,
                AttachmentRow.state == AttachmentState.UPLOADING,
            )
            .values(state=AttachmentState.COMPLETE, size_bytes=size_bytes, completed_at=at)
            .returning(AttachmentRow)
            .execution_options(synchronize_session="fetch")
        )
        return _record(row) if row is not None else None

    async def get(self, attachment_id: UUID) -> Attachment | None:
        row = await self._session.scalar(
            select(AttachmentRow).where(AttachmentRow.id == attachment_id)
        )
        return _record(row) if row is not None else None

    async def list_for_case(self, case_id: UUID, *, complete_only: bool = True) -> list[Attachment]:
        query = select(AttachmentRow).where(AttachmentRow.case_id == case_id)
        if complete_only:
            query = query.where(AttachmentRow.state == AttachmentState.COMPLETE)
        rows = await self._session.scalars(
            query.order_by(AttachmentRow.created_at, AttachmentRow.id)
        )
        return [_record(row) for row in rows]

    async def delete(self, attachment_id: UUID) -> str | None:
        """Forget the attachment; returns its blob key for the caller to delete, or None."""
        result: Any = await self._session.execute(
            delete(AttachmentRow)
            .where(AttachmentRow.id == attachment_id)
            .returning(AttachmentRow.blob_key)
        )
        blob_key = result.scalar_one_or_none()
        return str(blob_key) if blob_key is not None else None

    async def stale_uploads(
        self, *, started_before: datetime, limit: int = 100
    ) -> list[Attachment]:
        """Uploads that began before the given time and never completed (broken transfers)."""
        rows = await self._session.scalars(
            select(AttachmentRow)
            .where(
                AttachmentRow.state == AttachmentState.UPLOADING,
                AttachmentRow.created_at < started_before,
            )
            .order_by(AttachmentRow.created_at, AttachmentRow.id)
            .limit(limit)
        )
        return [_record(row) for row in rows]

    async def claim(self, attachment_ids: Collection[UUID], *, case_id: UUID) -> int:
        """Give finished uploads that belong to no case yet to `case_id`; returns how many.

        Conditional, so an upload is claimed once: a second claimant (or a sweep that
        deleted it first) finds nothing to update.
        """
        if not attachment_ids:
            return 0
        result: Any = await self._session.execute(
            update(AttachmentRow)
            .where(
                AttachmentRow.id.in_(list(attachment_ids)),
                AttachmentRow.case_id.is_(None),
                AttachmentRow.state == AttachmentState.COMPLETE,
            )
            .values(case_id=case_id)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)

    async def delete_unclaimed(self, *, completed_before: datetime, limit: int = 100) -> list[str]:
        """Delete finished uploads that no case claimed before the given time (abandoned tips).

        Returns their blob keys for the caller to delete. One conditional statement, so an
        upload claimed meanwhile by a tip is never deleted under it.
        """
        return await self._delete_where(
            limit,
            AttachmentRow.case_id.is_(None),
            AttachmentRow.state == AttachmentState.COMPLETE,
            AttachmentRow.completed_at < completed_before,
        )

    async def delete_stalled(self, *, started_before: datetime, limit: int = 100) -> list[str]:
        """Delete uploads that began before the given time and never completed; blob keys back.

        Conditional on the state, so an upload that completes meanwhile is kept.
        """
        return await self._delete_where(
            limit,
            AttachmentRow.state == AttachmentState.UPLOADING,
            AttachmentRow.created_at < started_before,
        )

    async def _delete_where(self, limit: int, *conditions: Any) -> list[str]:
        chosen = (
            select(AttachmentRow.id)
            .where(*conditions)
            .order_by(AttachmentRow.created_at, AttachmentRow.id)
            .limit(limit)
        )
        # The conditions are repeated outside the sub-select: on PostgreSQL a row changed by a
        # concurrent unit after the sub-select saw it is re-checked before it is deleted.
        result: Any = await self._session.execute(
            delete(AttachmentRow)
            .where(AttachmentRow.id.in_(chosen), *conditions)
            .returning(AttachmentRow.blob_key)
            .execution_options(synchronize_session=False)
        )
        return [str(key) for key in result.scalars()]
