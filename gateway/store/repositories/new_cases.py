"""New cases opened by tips, written many at a time: one statement per table for all of them.

A tip's rows (the case, its first message, the keys that message is wrapped for, the inbox
rows and the `case.created` outbox row) are the same five kinds for every tip, so a batch
of tips costs five statements, not five per tip (domain/intake.py batches them).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite

from gateway.store.records import NewCase, field_values
from gateway.store.repositories.cases import CASES
from gateway.store.repositories.inbox import INBOX_ENTRIES
from gateway.store.repositories.messages import KEY_ID_SIZE, MESSAGE_RECIPIENTS, MESSAGES
from gateway.store.repositories.outbox import OUTBOX
from gateway.store.session import StoreSession


class NewCaseRepository:
    def __init__(self, session: StoreSession) -> None:
        self._session = session

    async def write(self, new_cases: Sequence[NewCase]) -> list[bool]:
        """Write every case whose locator hash is free, with its rows; which ones were written.

        A case whose locator hash is taken (by a stored case or by an earlier one in the same
        call) is skipped with all of its rows, and its place in the answer is False: the
        caller answers that tip alone, the others stand.
        """
        for new_case in new_cases:
            _check(new_case)
        if not new_cases:
            return []
        dialect_insert = postgresql.insert if self._session.on_postgresql else sqlite.insert
        cases = dialect_insert(CASES).on_conflict_do_nothing(index_elements=["locator_hash"])
        # In locator-hash order: two units inserting the same hashes take their locks in
        # one order, so a re-used code makes one wait for the other, never a deadlock.
        rows = sorted(
            (field_values(new_case.case) for new_case in new_cases),
            key=lambda row: bytes(row["locator_hash"]),
        )
        inserted = await self._session.execute(cases.returning(CASES.c.id), rows)
        written_ids = set(inserted.scalars())
        written = [new_case for new_case in new_cases if new_case.case.id in written_ids]
        if written:
            await self._write_rows(written)
        return [new_case.case.id in written_ids for new_case in new_cases]

    async def _write_rows(self, written: Sequence[NewCase]) -> None:
        # Plain executemany statements on the tables: no ORM unit of work, no RETURNING.
        await self._session.execute(
            insert(MESSAGES), [field_values(new_case.tip) for new_case in written]
        )
        await self._session.execute(
            insert(MESSAGE_RECIPIENTS),
            [
                {
                    "message_id": new_case.tip.id,
                    "key_id": recipient.key_id,
                    "investigator_id": recipient.investigator_id,
                    "recipient_kind": recipient.kind,
                }
                for new_case in written
                for recipient in new_case.recipients
            ],
        )
        inbox_rows = [
            {
                "investigator_id": investigator_id,
                "case_id": new_case.case.id,
                "added_at": new_case.case.created_at,
            }
            for new_case in written
            for investigator_id in new_case.inboxes
        ]
        if inbox_rows:
            await self._session.execute(insert(INBOX_ENTRIES), inbox_rows)
        await self._session.execute(
            insert(OUTBOX),
            [
                {
                    "topic": new_case.event_topic,
                    "payload": dict(new_case.event_payload),
                    "case_id": new_case.case.id,
                    "created_at": new_case.case.created_at,
                    "available_at": new_case.case.created_at,
                    "attempts": 0,
                    "last_error": None,
                    "delivered_at": None,
                }
                for new_case in written
            ],
        )


def _check(new_case: NewCase) -> None:
    """Refuse a malformed batch before any statement runs (a programming error, not input)."""
    case, tip = new_case.case, new_case.tip
    if len(case.locator_hash) != 32 or len(case.reporter_public_key) != 32:
        raise ValueError("locator hash and reporter public key are 32 bytes each")
    if tip.case_id != case.id or tip.seq != 1 or case.last_message_seq != 1:
        raise ValueError("a new case's tip is its message number 1")
    if not new_case.recipients:
        raise ValueError("a message is wrapped for at least one recipient")
    key_ids = [recipient.key_id for recipient in new_case.recipients]
    if any(len(key_id) != KEY_ID_SIZE for key_id in key_ids):
        raise ValueError("recipient key ids are 16 bytes")
    if len(set(key_ids)) != len(key_ids):
        raise ValueError("a message lists each recipient key once")
    if len(set(new_case.inboxes)) != len(new_case.inboxes):
        raise ValueError("a case lands in each inbox once")
