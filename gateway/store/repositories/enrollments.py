"""Enrollments: an invited person's submitted keys waiting for vetting with the offline key."""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from gateway.store.errors import InviteAlreadyEnrolled
from gateway.store.models import EnrollmentRow
from gateway.store.records import Enrollment, EnrollmentStatus
from gateway.store.session import StoreSession


def _record(row: EnrollmentRow) -> Enrollment:
    return Enrollment(
        id=row.id,
        invite_id=row.invite_id,
        investigator_id=row.investigator_id,
        status=EnrollmentStatus(row.status),
        submitted_at=row.submitted_at,
        decided_at=row.decided_at,
    )


class EnrollmentRepository:
    def __init__(self, session: StoreSession) -> None:
        self._session = session

    async def create(self, *, invite_id: UUID, investigator_id: UUID, at: datetime) -> Enrollment:
        row = EnrollmentRow(
            id=uuid.uuid4(),
            invite_id=invite_id,
            investigator_id=investigator_id,
            status=EnrollmentStatus.PENDING,
            submitted_at=at,
        )
        self._session.add(row)
        try:
            await self._session.flush()
        except IntegrityError as error:
            raise InviteAlreadyEnrolled("this invite has an enrollment already") from error
        return _record(row)

    async def get(self, enrollment_id: UUID) -> Enrollment | None:
        row = await self._session.scalar(
            select(EnrollmentRow).where(EnrollmentRow.id == enrollment_id)
        )
        return _record(row) if row is not None else None

    async def latest_for_investigator(self, investigator_id: UUID) -> Enrollment | None:
        row = await self._session.scalar(
            select(EnrollmentRow)
            .where(EnrollmentRow.investigator_id == investigator_id)
            .order_by(EnrollmentRow.submitted_at.desc(), EnrollmentRow.id.desc())
            .limit(1)
        )
        return _record(row) if row is not None else None

    async def list_pending(self) -> list[Enrollment]:
        rows = await self._session.scalars(
            select(EnrollmentRow)
            .where(EnrollmentRow.status == EnrollmentStatus.PENDING)
            .order_by(EnrollmentRow.submitted_at, EnrollmentRow.id)
        )
        return [_record(row) for row in rows]

    async def decide(
        self, enrollment_id: UUID, status: EnrollmentStatus, *, at: datetime
    ) -> Enrollment | None:
        """Record the vetting decision once; None if unknown or decided already."""
        if status is EnrollmentStatus.PENDING:
            raise ValueError("a decision is vetted or rejected")
        row = await self._session.scalar(
            update(EnrollmentRow)
            .where(
                EnrollmentRow.id == enrollment_id,
                EnrollmentRow.status == EnrollmentStatus.PENDING,
            )
            .values(status=status, decided_at=at)
            .returning(EnrollmentRow)
            .execution_options(synchronize_session="fetch")
        )
        return _record(row) if row is not None else None
