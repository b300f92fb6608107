"""Looking an account up with a fallback: one query, the named account first."""

from __future__ import annotations

from gateway.store import Database
from tests.unit.store.builders import add_investigator


async def test_the_named_account_wins_over_the_fallback(database: Database) -> None:
    async with database.transaction() as tx:
        anna = await add_investigator(tx, "anna")
        await add_investigator(tx, "~stand-in")
    async with database.transaction(read_only=True) as tx:
        found = await tx.investigators.find_by_username_or("anna", "~stand-in")
    assert found == anna


async def test_an_unknown_name_gives_the_fallback(database: Database) -> None:
    async with database.transaction() as tx:
        stand_in = await add_investigator(tx, "~stand-in")
    async with database.transaction(read_only=True) as tx:
        found = await tx.investigators.find_by_username_or("nobody", "~stand-in")
    assert found == stand_in


async def test_without_either_account_there_is_nothing(database: Database) -> None:
    async with database.transaction(read_only=True) as tx:
        assert await tx.investigators.find_by_username_or("nobody", "~stand-in") is None
