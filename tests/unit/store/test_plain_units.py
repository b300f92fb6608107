"""Plain units of work (`Database.plain_transaction`): the hot paths' statements straight on
the driver, with the same answers, the same commit and rollback, and nothing else allowed."""

from __future__ import annotations

import uuid

import pytest

from gateway.store import Database
from gateway.store.records import InvestigatorStatus
from tests.fixtures.database import postgres_only
from tests.unit.store.builders import add_investigator, append_directory_entry, at


async def test_a_plain_unit_reads_what_a_full_unit_reads(database: Database) -> None:
    async with database.plain_transaction() as tx:
        assert await tx.directory.head() is None
        assert await tx.directory.list_all() == []
    async with database.transaction() as tx:
        for seq in (1, 2, 3):
            await append_directory_entry(tx, seq, minute=seq)
        active = await add_investigator(tx)
        revoked = await add_investigator(tx, status=InvestigatorStatus.REVOKED)
    asked = [active.id, revoked.id, uuid.uuid4()]

    async with database.transaction(read_only=True) as tx:
        full = (
            await tx.directory.head(),
            await tx.directory.list_all(),
            sorted(await tx.investigators.statuses(asked), key=str),
        )
    async with database.plain_transaction() as tx:
        plain = (
            await tx.directory.head(),
            await tx.directory.list_all(),
            sorted(await tx.investigators.statuses(asked), key=str),
        )

    assert plain == full
    assert full[0] is not None
    assert full[0][0] == 3


async def test_a_plain_unit_commits_at_its_end_and_rolls_back_on_an_exception(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        ids = [(await tx.outbox.enqueue("case.created", {"n": n}, at=at(0))).id for n in (1, 2)]

    async def mark_both_then_fail() -> None:
        async with database.plain_transaction() as tx:
            assert await tx.outbox.mark_delivered(ids, at=at(1)) == 2
            raise LookupError("the caller failed after its statement")

    with pytest.raises(LookupError):
        await mark_both_then_fail()
    async with database.plain_transaction() as tx:
        assert await tx.outbox.mark_delivered(ids[:1], at=at(2)) == 1
    async with database.plain_transaction() as tx:
        assert await tx.outbox.mark_delivered(ids, at=at(3)) == 1  # only the one rolled back

    async with database.transaction(read_only=True) as tx:
        rows = [await tx.outbox.get(row_id) for row_id in ids]
    assert [row.delivered_at if row else None for row in rows] == [at(2), at(3)]


@postgres_only
async def test_a_repository_method_that_needs_the_session_refuses_to_run_in_a_plain_unit(
    database: Database,
) -> None:
    async with database.plain_transaction() as tx:
        with pytest.raises(RuntimeError, match="plain unit"):
            await tx.investigators.list_all()


@postgres_only
async def test_a_plain_unit_refuses_naive_times_as_the_column_type_does(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        row = await tx.outbox.enqueue("case.created", {"n": 1}, at=at(0))
    async with database.plain_transaction() as tx:
        with pytest.raises(ValueError, match="naive"):
            await tx.outbox.mark_delivered([row.id], at=at(1).replace(tzinfo=None))
