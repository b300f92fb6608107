"""The transactional outbox: notifications written with the business change, delivered later."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Any, Final, cast
from uuid import UUID

from sqlalchemy import ColumnElement, Table, case, delete, func, insert, literal, select, update

from gateway.store.models import OutboxRow
from gateway.store.records import JSONValue, OutboxMessage
from gateway.store.repositories.inbox import InboxRepository
from gateway.store.session import StoreSession

# Delivery errors are stored as short codes only, so that no response body, URL or
# content can end up in the database through an error message.
OUTBOX: Final = cast(Table, OutboxRow.__table__)
_ERROR_CODE = re.compile(r"[a-z0-9_.:-]{1,64}")


def _record(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        topic=row.topic,
        payload=dict(row.payload),
        case_id=row.case_id,
        created_at=row.created_at,
        available_at=row.available_at,
        attempts=row.attempts,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
    )


class OutboxRepository:
    def __init__(self, session: StoreSession) -> None:
        self._session = session

    async def enqueue(
        self,
        topic: str,
        payload: Mapping[str, JSONValue],
        *,
        at: datetime,
        case_id: UUID | None = None,
        available_at: datetime | None = None,
    ) -> OutboxMessage:
        """Add a notification; it is durable exactly when the surrounding unit commits."""
        message = OutboxMessage(
            id=0,  # given by the database below
            topic=topic,
            payload=dict(payload),
            case_id=case_id,
            created_at=at,
            available_at=available_at or at,
            attempts=0,
            last_error=None,
            delivered_at=None,
        )
        values = {name: value for name, value in asdict(message).items() if name != "id"}
        # A Core insert: the ORM's unit of work costs several times the CPU per row.
        message_id = await self._session.scalar(
            insert(OUTBOX).values(values).returning(OUTBOX.c.id)
        )
        assert message_id is not None
        return replace(message, id=message_id)

    async def claim(
        self,
        *,
        now: datetime,
        lease: timedelta,
        limit: int = 50,
        topics: Collection[str] | None = None,
    ) -> list[OutboxMessage]:
        """Take up to `limit` due, undelivered messages for delivery, oldest first.

        Claimed rows become due again only after `lease`, so a deliverer that crashes
        loses nothing. On PostgreSQL, `FOR UPDATE SKIP LOCKED` lets several processes
        claim at once without ever sharing a row; SQLite has a single writer. With
        `topics`, only those topics are claimed (each deliverer takes its own kind).
        """
        conditions = [OutboxRow.delivered_at.is_(None), OutboxRow.available_at <= now]
        if topics is not None:
            conditions.append(OutboxRow.topic.in_(list(topics)))
        ids = list(
            await self._session.scalars(
                select(OutboxRow.id)
                .where(*conditions)
                .order_by(OutboxRow.available_at, OutboxRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not ids:
            return []
        # A Core update: the ORM's would load and track an entity per row for nothing.
        rows = await self._session.execute(
            update(OUTBOX)
            .where(self._session.one_of(OUTBOX.c.id, ids))
            .values(available_at=now + lease, attempts=OUTBOX.c.attempts + 1)
            .returning(*OUTBOX.c)
        )
        return sorted(
            (OutboxMessage(**{**row._asdict(), "payload": dict(row.payload)}) for row in rows),
            key=lambda message: message.id,
        )

    async def claim_with_inboxes(
        self, *, now: datetime, lease: timedelta, limit: int, topics: Collection[str]
    ) -> list[tuple[OutboxMessage, list[UUID]]]:
        """`claim`, each row with the investigators whose inbox holds its case (ids sorted).

        On PostgreSQL one statement, one round trip: the relay runs it for every round.
        """
        if not self._session.on_postgresql:
            claimed = await self.claim(now=now, lease=lease, limit=limit, topics=topics)
            on_cases = await InboxRepository(self._session).investigators_of_cases(
                {message.case_id for message in claimed if message.case_id is not None}
            )
            return [
                (message, on_cases[message.case_id] if message.case_id is not None else [])
                for message in claimed
            ]
        rows = await self._session.run_on_postgresql(
            _CLAIM_WITH_INBOXES, now, list(topics), limit, now + lease
        )
        return [
            (
                OutboxMessage(
                    id=row["id"],
                    topic=row["topic"],
                    payload=_json_object(row["payload"]),
                    case_id=row["case_id"],
                    created_at=row["created_at"],
                    available_at=row["available_at"],
                    attempts=row["attempts"],
                    last_error=row["last_error"],
                    delivered_at=row["delivered_at"],
                ),
                list(row["inboxes"]),
            )
            for row in rows
        ]

    async def mark_delivered(self, message_ids: Collection[int], *, at: datetime) -> int:
        if not message_ids:
            return 0
        if self._session.plain:
            if at.utcoffset() is None:  # the column type's rule, which the driver skips
                raise ValueError("naive datetimes are not stored; pass a timezone-aware UTC time")
            marked = await self._session.run_on_postgresql(
                "UPDATE outbox SET delivered_at = $1 "
                "WHERE id = ANY($2::bigint[]) AND delivered_at IS NULL RETURNING id",
                at,
                list(message_ids),
            )
            return len(marked)
        result: Any = await self._session.execute(
            update(OUTBOX)
            .where(
                self._session.one_of(OUTBOX.c.id, list(message_ids)),
                OUTBOX.c.delivered_at.is_(None),
            )
            .values(delivered_at=at)
        )
        return int(result.rowcount)

    async def retry_later(
        self,
        message_id: int,
        *,
        now: datetime,
        error_code: str,
        base_delay: timedelta = timedelta(seconds=5),
        max_delay: timedelta = timedelta(hours=1),
    ) -> OutboxMessage | None:
        """After a failed delivery: due again after an exponential backoff on the attempts."""
        if not _ERROR_CODE.fullmatch(error_code):
            raise ValueError("delivery errors are stored as short codes (a-z, 0-9, _.:-)")
        attempts = await self._session.scalar(
            select(OutboxRow.attempts).where(
                OutboxRow.id == message_id, OutboxRow.delivered_at.is_(None)
            )
        )
        if attempts is None:
            return None
        delay = min(max_delay, base_delay * 2 ** max(0, min(attempts - 1, 30)))
        row = await self._session.scalar(
            update(OutboxRow)
            .where(OutboxRow.id == message_id)
            .values(available_at=now + delay, last_error=error_code)
            .returning(OutboxRow)
            .execution_options(synchronize_session="fetch")
        )
        return _record(row) if row is not None else None

    async def retry_later_many(
        self,
        message_ids: Collection[int],
        *,
        now: datetime,
        error_code: str,
        base_delay: timedelta = timedelta(seconds=5),
        max_delay: timedelta = timedelta(hours=1),
    ) -> int:
        """`retry_later` for several messages in one statement; returns how many were put back.

        Each message backs off by its own attempts, exactly as `retry_later` would.
        """
        if not _ERROR_CODE.fullmatch(error_code):
            raise ValueError("delivery errors are stored as short codes (a-z, 0-9, _.:-)")
        if not message_ids:
            return 0
        # The backoff doubles per attempt up to a cap, so it takes at most 31 values: one CASE
        # over the attempts with the due times computed here works the same on both databases.
        due_type = OUTBOX.c.available_at.type
        steps: list[tuple[ColumnElement[bool], ColumnElement[datetime]]] = []
        delay = base_delay
        for attempts in range(1, 31):
            if delay >= max_delay:
                break
            steps.append((OUTBOX.c.attempts <= attempts, literal(now + delay, due_type)))
            delay *= 2
        longest = literal(now + min(delay, max_delay), due_type)
        result: Any = await self._session.execute(
            update(OUTBOX)
            .where(
                self._session.one_of(OUTBOX.c.id, list(message_ids)),
                OUTBOX.c.delivered_at.is_(None),
            )
            .values(
                available_at=case(*steps, else_=longest) if steps else longest,
                last_error=error_code,
            )
        )
        return int(result.rowcount)

    async def get(self, message_id: int) -> OutboxMessage | None:
        row = await self._session.scalar(select(OutboxRow).where(OutboxRow.id == message_id))
        return _record(row) if row is not None else None

    async def pending_count(self) -> int:
        count = await self._session.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.delivered_at.is_(None))
        )
        return int(count or 0)

    async def delete_delivered(self, *, before: datetime) -> int:
        result: Any = await self._session.execute(
            delete(OutboxRow).where(OutboxRow.delivered_at < before)
        )
        return int(result.rowcount)


def _json_object(value: Any) -> dict[str, JSONValue]:
    # SQLAlchemy's asyncpg dialect decodes JSON on the connection; a bare one gives text.
    return dict(json.loads(value) if isinstance(value, str | bytes) else value)


# `claim` and the audience query in one statement (constant text: one prepared statement).
_CLAIM_WITH_INBOXES: Final = """
WITH due AS (
    SELECT id FROM outbox
    WHERE delivered_at IS NULL AND available_at <= $1 AND topic = ANY($2::varchar[])
    ORDER BY available_at, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE outbox SET available_at = $4, attempts = outbox.attempts + 1
    FROM due WHERE outbox.id = due.id
    RETURNING outbox.*
)
SELECT claimed.*, ARRAY(
    SELECT investigator_id FROM inbox_entries
    WHERE inbox_entries.case_id = claimed.case_id
    ORDER BY investigator_id
) AS inboxes
FROM claimed
ORDER BY claimed.id
"""
