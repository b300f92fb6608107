"""New cases opened by tips, written many at a time (domain/tip_intake.py groups them).

A tip's rows (the case, its first message, the keys that message is wrapped for, the inbox
rows and the `case.created` outbox row) are the same five kinds for every tip. On
PostgreSQL a whole group is one statement from array parameters, one round trip on the
unit's own asyncpg connection (SQLAlchemy's per-statement work was most of a tip's write);
on SQLite, one executemany per table.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Table, insert
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
        # In locator-hash order: two units inserting the same hashes take their locks in
        # one order, so a re-used code makes one wait for the other, never a deadlock.
        ordered = sorted(new_cases, key=lambda new_case: new_case.case.locator_hash)
        rows = _rows_of(ordered)
        if self._session.on_postgresql:
            written_ids = await self._write_in_one_statement(rows)
        else:
            written_ids = await self._write_table_by_table(rows)
        return [new_case.case.id in written_ids for new_case in new_cases]

    async def _write_in_one_statement(self, rows: dict[Table, list[dict[str, Any]]]) -> set[Any]:
        """PostgreSQL: every table from array parameters in one statement, one round trip."""
        arguments = [
            [_driver_value(row[name]) for row in rows[table]]
            for table in _TABLES
            for name in _COLUMNS[table]
        ]
        found = await self._session.run_on_postgresql(_one_statement(), *arguments)
        return {record[0] for record in found}

    async def _write_table_by_table(self, rows: dict[Table, list[dict[str, Any]]]) -> set[Any]:
        """SQLite (a local file: round trips cost nothing): one executemany per table."""
        cases = sqlite.insert(CASES).on_conflict_do_nothing(index_elements=["locator_hash"])
        inserted = await self._session.execute(cases.returning(CASES.c.id), rows[CASES])
        written_ids = set(inserted.scalars())
        written_messages = {row["id"] for row in rows[MESSAGES] if row["case_id"] in written_ids}
        for table in _TABLES[1:]:
            key = "message_id" if table is MESSAGE_RECIPIENTS else "case_id"
            chosen = written_messages if table is MESSAGE_RECIPIENTS else written_ids
            kept = [row for row in rows[table] if row[key] in chosen]
            if kept:
                await self._session.execute(insert(table), kept)
        return written_ids


# The tables a new case writes, parents first; the columns given for each (the outbox's id
# comes from its sequence).
_TABLES: Final = (CASES, MESSAGES, MESSAGE_RECIPIENTS, INBOX_ENTRIES, OUTBOX)
_COLUMNS: Final = {
    table: tuple(
        column.name for column in table.columns if column.name != "id" or table is not OUTBOX
    )
    for table in _TABLES
}


def _rows_of(new_cases: Sequence[NewCase]) -> dict[Table, list[dict[str, Any]]]:
    rows: dict[Table, list[dict[str, Any]]] = {table: [] for table in _TABLES}
    for new_case in new_cases:
        case, tip = new_case.case, new_case.tip
        rows[CASES].append(field_values(case))
        rows[MESSAGES].append(field_values(tip))
        rows[MESSAGE_RECIPIENTS].extend(
            {
                "message_id": tip.id,
                "key_id": recipient.key_id,
                "investigator_id": recipient.investigator_id,
                "recipient_kind": recipient.kind,
            }
            for recipient in new_case.recipients
        )
        rows[INBOX_ENTRIES].extend(
            {
                "investigator_id": investigator_id,
                "case_id": case.id,
                "added_at": case.created_at,
                "last_seen_at": None,
            }
            for investigator_id in new_case.inboxes
        )
        rows[OUTBOX].append(
            {
                "topic": new_case.event_topic,
                "payload": dict(new_case.event_payload),
                "case_id": case.id,
                "created_at": case.created_at,
                "available_at": case.created_at,
                "attempts": 0,
                "last_error": None,
                "delivered_at": None,
            }
        )
    return rows


def _driver_value(value: Any) -> Any:
    """A value as asyncpg takes it in an array parameter (JSON as its text), with the
    column types' own rule: no naive datetimes."""
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, datetime) and value.utcoffset() is None:
        raise ValueError("naive datetimes are not stored; pass a timezone-aware UTC time")
    return value


# Each table's CTE, and which of its given rows it keeps: those of the cases (or the
# messages) the statement actually inserted.
_KEPT: Final = {
    CASES: ("opened", "ON CONFLICT (locator_hash) DO NOTHING RETURNING id"),
    MESSAGES: ("tips", "WHERE given.case_id IN (SELECT id FROM opened) RETURNING id"),
    MESSAGE_RECIPIENTS: ("recipients", "WHERE given.message_id IN (SELECT id FROM tips)"),
    INBOX_ENTRIES: ("inboxes", "WHERE given.case_id IN (SELECT id FROM opened)"),
    OUTBOX: ("events", "WHERE given.case_id IN (SELECT id FROM opened)"),
}


@functools.cache
def _one_statement() -> str:
    """INSERT … SELECT FROM unnest(arrays) for each table, chained by data-modifying CTEs.

    Built from the models (no input reaches the text), so a column a migration adds is
    written here too. A skipped case leaves nothing behind (see `_KEPT`).
    """
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    parts = []
    number = 0
    for table in _TABLES:
        names = _COLUMNS[table]
        arrays = []
        for name in names:
            number += 1
            arrays.append(f"${number}::{table.c[name].type.compile(dialect=dialect)}[]")
        columns = ", ".join(names)
        name, keep = _KEPT[table]
        parts.append(
            f"{name} AS (INSERT INTO {table.name} ({columns}) SELECT {columns} "  # noqa: S608
            f"FROM unnest({', '.join(arrays)}) AS given({columns}) {keep})"
        )
    return f"WITH {', '.join(parts)} SELECT id FROM opened"  # noqa: S608 - names from the models


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
