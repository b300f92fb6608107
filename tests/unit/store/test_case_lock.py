"""Locking a case row: a decision taken on the locked case (a purge) cannot be overtaken."""

from __future__ import annotations

import asyncio
import uuid

from gateway.store import Database
from gateway.store.records import CaseStatus
from tests.fixtures.database import postgres_only
from tests.unit.store.builders import add_case, at


async def test_locking_a_case_returns_it_and_a_missing_case_is_none(database: Database) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
    async with database.transaction() as tx:
        locked = await tx.cases.lock(case.id)
        missing = await tx.cases.lock(uuid.uuid4())

    assert locked == case
    assert missing is None


@postgres_only
async def test_a_change_to_a_locked_case_waits_for_the_lock_holder(database: Database) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
    holder_has_lock = asyncio.Event()
    release = asyncio.Event()

    async def hold_then_purge() -> None:
        async with database.transaction() as tx:
            assert await tx.cases.lock(case.id) is not None
            holder_has_lock.set()
            await release.wait()
            await tx.cases.purge(case.id)

    async def change_status() -> object:
        await holder_has_lock.wait()
        async with database.transaction() as tx:
            return await tx.cases.set_status(case.id, CaseStatus.TRIAGE, at=at(5))

    holder = asyncio.create_task(hold_then_purge())
    changer = asyncio.create_task(change_status())
    await holder_has_lock.wait()
    await asyncio.sleep(0.3)
    waited = not changer.done()
    release.set()
    await holder

    assert waited
    # The change ran after the purge committed: it found no case to change.
    assert await changer is None
