"""The light read of accounts a new tip needs: which ids have one, and in which state."""

from __future__ import annotations

import uuid

from gateway.store import Database
from gateway.store.records import AccountStatus, InvestigatorStatus
from tests.unit.store.builders import add_investigator


async def test_statuses_name_each_existing_account_and_skip_ids_without_one(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        active = await add_investigator(tx)
        revoked = await add_investigator(tx, status=InvestigatorStatus.REVOKED)
    nobody = uuid.uuid4()

    async with database.transaction(read_only=True) as tx:
        found = await tx.investigators.statuses([active.id, revoked.id, nobody])
        assert await tx.investigators.statuses([]) == []

    assert sorted(found, key=lambda account: str(account.id)) == sorted(
        [
            AccountStatus(id=active.id, status=InvestigatorStatus.ACTIVE),
            AccountStatus(id=revoked.id, status=InvestigatorStatus.REVOKED),
        ],
        key=lambda account: str(account.id),
    )
