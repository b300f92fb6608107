"""Bulk seeding for the benchmarks: many cases written straight into the tables, fast.

No request path imports this: `tests/bench` uses it to fill a database with 10k to 1M cases
(each with its tip, the tip's recipient index and inbox rows, exactly as the submit flow
leaves them) to measure how look-ups scale. PostgreSQL gets COPY; SQLite multi-row inserts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, Final
from uuid import UUID

import asyncpg
from sqlalchemy import Table, insert, text
from sqlalchemy.exc import IntegrityError

from gateway.store.database import Database
from gateway.store.errors import StoreError
from gateway.store.models import Base
from gateway.store.records import CaseStatus, MessageKind, Recipient
from gateway.store.repositories.cases import ENDED_STATUSES

DEFAULT_BATCH_SIZE: Final = 2000
# Parents before children, the order the foreign keys need.
_TABLES: Final[tuple[Table, ...]] = tuple(
    Base.metadata.tables[name]
    for name in ("cases", "messages", "message_recipients", "inbox_entries")
)


class SeedingRefused(StoreError):
    """A batch broke a constraint (a locator hash used twice, an unknown investigator)."""


@dataclass(frozen=True, slots=True)
class SeedCase:
    """One case as a reporter's tip leaves it: the tip, the keys it is wrapped for, inboxes."""

    locator_hash: bytes = field(repr=False)
    reporter_public_key: bytes = field(repr=False)
    envelope: bytes = field(repr=False)
    recipients: Sequence[Recipient]
    inboxes: Sequence[UUID]
    at: datetime
    status: CaseStatus = CaseStatus.NEW
    urgent: bool = False


@dataclass
class _Batch:
    """The rows of a batch of cases, table by table, as column-name dictionaries."""

    rows: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {table.name: [] for table in _TABLES}
    )

    def add(self, case: SeedCase) -> None:
        if len(case.locator_hash) != 32 or len(case.reporter_public_key) != 32:
            raise ValueError("locator hash and reporter public key are 32 bytes each")
        if not case.recipients:
            raise ValueError("a tip is wrapped for at least one recipient")
        case_id, message_id = uuid.uuid4(), uuid.uuid4()
        ended = case.status in ENDED_STATUSES
        self.rows["cases"].append(
            {
                "id": case_id,
                "locator_hash": case.locator_hash,
                "reporter_public_key": case.reporter_public_key,
                "status": case.status.value,
                "urgent": case.urgent,
                "created_at": case.at,
                "updated_at": case.at,
                "last_activity_at": case.at,
                "last_message_seq": 1,
                "assignee_id": None,
                "acknowledged_at": None,
                "acknowledged_by": None,
                "escalation_level": 0,
                "next_escalation_at": None,
                "consent": None,
                "consent_updated_at": None,
                "closed_at": case.at if ended else None,
            }
        )
        self.rows["messages"].append(
            {
                "id": message_id,
                "case_id": case_id,
                "seq": 1,
                "kind": MessageKind.TIP.value,
                "author_id": None,
                "visible_to_reporter": True,
                "envelope": case.envelope,
                "size": len(case.envelope),
                "created_at": case.at,
            }
        )
        self.rows["message_recipients"].extend(
            {
                "message_id": message_id,
                "key_id": recipient.key_id,
                "investigator_id": recipient.investigator_id,
                "recipient_kind": recipient.kind.value,
            }
            for recipient in case.recipients
        )
        self.rows["inbox_entries"].extend(
            {
                "investigator_id": person,
                "case_id": case_id,
                "added_at": case.at,
                "last_seen_at": None,
            }
            for person in dict.fromkeys(case.inboxes)
        )


def _batches(cases: Iterable[SeedCase], size: int) -> Iterator[_Batch]:
    iterator = iter(cases)
    while chunk := list(islice(iterator, size)):
        batch = _Batch()
        for case in chunk:
            batch.add(case)
        yield batch


async def seed_cases(
    database: Database, cases: Iterable[SeedCase], *, batch_size: int = DEFAULT_BATCH_SIZE
) -> int:
    """Write the cases, one transaction per batch; returns how many were written.

    The inboxes must name existing investigators; a batch that breaks a constraint (a
    locator hash used twice, say) is rolled back whole and `SeedingRefused` raised.
    """
    if batch_size < 1:
        raise ValueError("a batch holds at least one case")
    written = 0
    for batch in _batches(cases, batch_size):
        try:
            if database.dialect == "postgresql":
                await _copy(database, batch)
            else:
                await _insert(database, batch)
        except (IntegrityError, asyncpg.IntegrityConstraintViolationError) as error:
            raise SeedingRefused(f"batch after {written} cases refused: {error}") from error
        written += len(batch.rows["cases"])
    return written


async def _copy(database: Database, batch: _Batch) -> None:
    async with database.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        async with driver.transaction():
            for table in _TABLES:
                rows = batch.rows[table.name]
                if not rows:
                    continue
                columns = [column.name for column in table.columns]
                await driver.copy_records_to_table(
                    table.name,
                    records=[tuple(row[name] for name in columns) for row in rows],
                    columns=columns,
                )


async def _insert(database: Database, batch: _Batch) -> None:
    async with database.engine.begin() as connection:
        for table in _TABLES:
            rows = batch.rows[table.name]
            if rows:
                await connection.execute(insert(table), rows)


async def refresh_statistics(database: Database) -> None:
    """Let the query planner see the new row counts (after a bulk load it has not yet)."""
    names = ", ".join(table.name for table in _TABLES)
    async with database.engine.begin() as connection:
        # Table names come from our own models, never from input.
        statement = f"ANALYZE {names}" if database.dialect == "postgresql" else "ANALYZE"
        await connection.execute(text(statement))
