"""Messages of a case (opaque envelopes) and the index of keys each one is wrapped for."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Final, cast
from uuid import UUID

from sqlalchemy import Table, insert, select, update

from gateway.store.errors import RecordNotFound
from gateway.store.models import MessageRecipientRow, MessageRow
from gateway.store.records import Message, MessageKind, Recipient, RecipientKind, field_values
from gateway.store.repositories.cases import CASES
from gateway.store.session import StoreSession

KEY_ID_SIZE = 16
MESSAGES: Final = cast(Table, MessageRow.__table__)
MESSAGE_RECIPIENTS: Final = cast(Table, MessageRecipientRow.__table__)


def message_record(row: MessageRow) -> Message:
    return Message(
        id=row.id,
        case_id=row.case_id,
        seq=row.seq,
        kind=MessageKind(row.kind),
        author_id=row.author_id,
        visible_to_reporter=row.visible_to_reporter,
        envelope=row.envelope,
        size=row.size,
        created_at=row.created_at,
    )


def _recipient_record(row: MessageRecipientRow) -> Recipient:
    return Recipient(
        key_id=row.key_id,
        kind=RecipientKind(row.recipient_kind),
        investigator_id=row.investigator_id,
    )


class MessageRepository:
    def __init__(self, session: StoreSession) -> None:
        self._session = session

    async def append(
        self,
        case_id: UUID,
        *,
        kind: MessageKind,
        author_id: UUID | None,
        visible_to_reporter: bool,
        envelope: bytes,
        recipients: Sequence[Recipient],
        at: datetime,
    ) -> Message:
        """Store a message under the case's next sequence number, with its recipients.

        The sequence number comes from a counter on the case row, which the UPDATE locks
        until commit: concurrent appends to one case queue up instead of colliding.
        """
        if not recipients:
            raise ValueError("a message is wrapped for at least one recipient")
        key_ids = [recipient.key_id for recipient in recipients]
        if any(len(key_id) != KEY_ID_SIZE for key_id in key_ids):
            raise ValueError("recipient key ids are 16 bytes")
        if len(set(key_ids)) != len(key_ids):
            raise ValueError("a message lists each recipient key once")
        # Core statements: the ORM's unit of work and bulk paths cost several times the CPU
        # per row, and nothing here needs the identity map.
        seq = await self._session.scalar(
            update(CASES)
            .where(CASES.c.id == case_id)
            .values(
                last_message_seq=CASES.c.last_message_seq + 1,
                last_activity_at=at,
                updated_at=at,
            )
            .returning(CASES.c.last_message_seq)
        )
        if seq is None:
            raise RecordNotFound("no such case")
        message = Message(
            id=uuid.uuid4(),
            case_id=case_id,
            seq=seq,
            kind=kind,
            author_id=author_id,
            visible_to_reporter=visible_to_reporter,
            envelope=envelope,
            size=len(envelope),
            created_at=at,
        )
        await self._session.execute(insert(MESSAGES).values(field_values(message)))
        await self._session.execute(
            insert(MESSAGE_RECIPIENTS),
            [
                {
                    "message_id": message.id,
                    "key_id": recipient.key_id,
                    "investigator_id": recipient.investigator_id,
                    "recipient_kind": recipient.kind,
                }
                for recipient in recipients
            ],
        )
        return message

    async def get(self, message_id: UUID) -> Message | None:
        row = await self._session.scalar(select(MessageRow).where(MessageRow.id == message_id))
        return message_record(row) if row is not None else None

    async def list_for_case(
        self,
        case_id: UUID,
        *,
        reporter_visible_only: bool = False,
        wrapped_for: bytes | None = None,
        after_seq: int = 0,
    ) -> list[Message]:
        """The case's messages in sequence order, optionally only those a reader may see."""
        query = select(MessageRow).where(MessageRow.case_id == case_id, MessageRow.seq > after_seq)
        if reporter_visible_only:
            query = query.where(MessageRow.visible_to_reporter.is_(True))
        if wrapped_for is not None:
            query = query.where(
                select(MessageRecipientRow.message_id)
                .where(
                    MessageRecipientRow.message_id == MessageRow.id,
                    MessageRecipientRow.key_id == wrapped_for,
                )
                .exists()
            )
        rows = await self._session.scalars(query.order_by(MessageRow.seq))
        return [message_record(row) for row in rows]

    async def recipients(self, message_id: UUID) -> list[Recipient]:
        rows = await self._session.scalars(
            select(MessageRecipientRow)
            .where(MessageRecipientRow.message_id == message_id)
            .order_by(MessageRecipientRow.key_id)
        )
        return [_recipient_record(row) for row in rows]

    async def recipients_of_case(self, case_id: UUID) -> list[Recipient]:
        """Every distinct key any message of the case was wrapped for."""
        result = await self._session.execute(
            select(
                MessageRecipientRow.key_id,
                MessageRecipientRow.recipient_kind,
                MessageRecipientRow.investigator_id,
            )
            .join(MessageRow, MessageRow.id == MessageRecipientRow.message_id)
            .where(MessageRow.case_id == case_id)
            .distinct()
            .order_by(MessageRecipientRow.key_id)
        )
        return [
            Recipient(key_id=key_id, kind=RecipientKind(kind), investigator_id=investigator_id)
            for key_id, kind, investigator_id in result
        ]
