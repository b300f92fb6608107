"""The audit trail: a keyed hash chain whose verifier names the first broken link."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import delete, update

from gateway.domain.audit import AuditTrail, ContentInAuditDetails
from gateway.domain.clock import SystemClock
from gateway.store import Database
from gateway.store.models import AuditEntryRow

AUDIT_KEY = b"a" * 32


@pytest.fixture
def trail() -> AuditTrail:
    return AuditTrail(AUDIT_KEY, SystemClock())


async def record_many(trail: AuditTrail, database: Database, count: int) -> list[uuid.UUID]:
    case_ids = [uuid.uuid4() for _ in range(count)]
    for index, case_id in enumerate(case_ids):
        async with database.transaction() as tx:
            await trail.record(
                tx,
                action="case.status",
                actor_id=uuid.uuid4(),
                case_id=case_id,
                details={"to": "triage", "step": index, "urgent": False},
            )
    return case_ids


async def test_an_untouched_chain_verifies(trail: AuditTrail, database: Database) -> None:
    await record_many(trail, database, 5)
    report = await trail.verify(database)
    assert report.intact
    assert report.entries == 5


async def test_an_empty_chain_verifies(trail: AuditTrail, database: Database) -> None:
    report = await trail.verify(database)
    assert report.intact
    assert report.entries == 0


async def test_an_altered_entry_is_named(trail: AuditTrail, database: Database) -> None:
    await record_many(trail, database, 5)
    async with database.engine.begin() as connection:
        await connection.execute(
            update(AuditEntryRow).where(AuditEntryRow.seq == 3).values(action="case.export")
        )
    report = await trail.verify(database)
    assert report.first_broken_seq == 3
    assert report.problem is not None
    assert "hash" in report.problem


async def test_a_removed_entry_is_named(trail: AuditTrail, database: Database) -> None:
    await record_many(trail, database, 5)
    async with database.engine.begin() as connection:
        await connection.execute(delete(AuditEntryRow).where(AuditEntryRow.seq == 2))
    report = await trail.verify(database)
    assert report.first_broken_seq == 3
    assert report.entries == 1


async def test_a_chain_rewritten_without_the_audit_key_is_detected(
    trail: AuditTrail, database: Database
) -> None:
    await record_many(trail, database, 3)
    forger = AuditTrail(b"f" * 32, SystemClock())
    report = await forger.verify(database)
    assert report.first_broken_seq == 1


async def test_entries_recorded_concurrently_form_one_chain(
    trail: AuditTrail, database: Database
) -> None:
    async def one(index: int) -> None:
        async with database.transaction() as tx:
            await trail.record(tx, action="case.open", details={"n": index})

    await asyncio.gather(*(one(index) for index in range(8)))
    report = await trail.verify(database)
    assert report.intact
    assert report.entries == 8


async def test_a_case_keeps_its_own_part_of_the_trail(
    trail: AuditTrail, database: Database
) -> None:
    case_ids = await record_many(trail, database, 3)
    entries = await trail.for_case(database, case_ids[1])
    assert [entry.seq for entry in entries] == [2]


@pytest.mark.parametrize(
    "details",
    [
        {"text": "the reporter said the girl is 15"},
        {"Note": "x"},
        {"nested": {"a": 1}},
        {f"k{index}": index for index in range(20)},
    ],
)
async def test_free_text_never_enters_an_audit_entry(
    trail: AuditTrail, database: Database, details: dict[str, object]
) -> None:
    async with database.transaction() as tx:
        with pytest.raises(ContentInAuditDetails):
            await trail.record(tx, action="case.note", details=details)  # type: ignore[arg-type]


async def test_actions_are_dotted_identifiers(trail: AuditTrail, database: Database) -> None:
    async with database.transaction() as tx:
        with pytest.raises(ContentInAuditDetails):
            await trail.record(tx, action="opened the case because")
