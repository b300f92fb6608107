"""One-time invites: only a hash of the token is kept, and consuming one is atomic."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, update

from gateway.store.models import InviteRow
from gateway.store.records import Invite
from gateway.store.session import StoreSession


def _record(row: InviteRow) -> Invite:
    return Invite(
        id=row.id,
        token_hash=row.token_hash,
        roles=tuple(row.roles),
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


class InviteRepository:
    def __init__(self, session: StoreSession) -> None:
        self._session = session

    async def create(
        self,
        *,
        token_hash: bytes,
        roles: Sequence[str],
        created_by: UUID | None,
        at: datetime,
        expires_at: datetime,
    ) -> Invite:
        if len(token_hash) != 32:
            raise ValueError("an invite token hash is 32 bytes")
        row = InviteRow(
            id=uuid.uuid4(),
            token_hash=token_hash,
            roles=list(roles),
            created_by=created_by,
            created_at=at,
            expires_at=expires_at,
        )
        self._session.add(row)
        await self._session.flush()
        return _record(row)

    async def get(self, invite_id: UUID) -> Invite | None:
        row = await self._session.scalar(select(InviteRow).where(InviteRow.id == invite_id))
        return _record(row) if row is not None else None

    async def find_usable(self, token_hash: bytes, *, at: datetime) -> Invite | None:
        """The invite if it is unused and unexpired at `at`, without using it up."""
        row = await self._session.scalar(
            select(InviteRow).where(
                InviteRow.token_hash == token_hash,
                InviteRow.used_at.is_(None),
                InviteRow.expires_at > at,
            )
        )
        return _record(row) if row is not None else None

    async def consume(self, token_hash: bytes, *, at: datetime) -> Invite | None:
        """Use the invite up; None if it is unknown, used or expired.

        One conditional UPDATE: of two concurrent callers exactly one gets the invite
        (PostgreSQL re-checks the condition after the first commits; SQLite has one writer).
        """
        row = await self._session.scalar(
            update(InviteRow)
            .where(
                InviteRow.token_hash == token_hash,
                InviteRow.used_at.is_(None),
                InviteRow.expires_at > at,
            )
            .values(used_at=at)
            .returning(InviteRow)
            .execution_options(synchronize_session="fetch")
        )
        return _record(row) if row is not None else None

    async def delete_expired(self, *, before: datetime) -> int:
        """Drop unused invites that expired before the given time (they can never be used)."""
        result: Any = await self._session.execute(
            delete(InviteRow).where(InviteRow.used_at.is_(None), InviteRow.expires_at < before)
        )
        return int(result.rowcount)
