"""The schema: migrations build exactly what the models say, and go down and up with data."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from gateway.store import Database, migrate
from gateway.store.models import Base
from tests.unit.store.builders import add_case, add_investigator, count_rows


async def _schema_differences(url: str) -> list[object]:
    database = Database.from_url(url)
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await database.close()


async def _table_names(url: str) -> set[str]:
    database = Database.from_url(url)
    try:
        async with database.engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await database.close()


async def test_the_migrations_build_exactly_the_schema_the_models_describe(
    database_url: str,
) -> None:
    assert await _schema_differences(database_url) == []
    assert await migrate.current(database_url) == migrate.head()


async def test_an_empty_database_has_no_revision_until_it_is_upgraded_from_a_running_loop(
    empty_database_url: str,
) -> None:
    assert await migrate.current(empty_database_url) is None
    # This test body runs inside pytest's event loop: upgrading here must work.
    await migrate.upgrade(empty_database_url)
    assert await migrate.current(empty_database_url) == migrate.head()
    assert await _schema_differences(empty_database_url) == []


async def test_a_database_holding_data_goes_down_to_base_and_back_up_to_head(
    empty_database_url: str,
) -> None:
    await migrate.upgrade(empty_database_url)
    database = Database.from_url(empty_database_url)
    try:
        async with database.transaction() as tx:
            person = await add_investigator(tx)
            await add_case(tx, investigators=[person.id])
        assert (await count_rows(database))["messages"] == 1
    finally:
        await database.close()

    await migrate.downgrade(empty_database_url, "base")
    assert await migrate.current(empty_database_url) is None
    assert await _table_names(empty_database_url) <= {"alembic_version"}

    await migrate.upgrade(empty_database_url)
    assert await _schema_differences(empty_database_url) == []
    database = Database.from_url(empty_database_url)
    try:
        async with database.transaction() as tx:
            person = await add_investigator(tx)
            await add_case(tx, investigators=[person.id])
        assert (await count_rows(database))["cases"] == 1
    finally:
        await database.close()


async def test_two_gateways_upgrading_at_once_migrate_the_database_once(
    empty_database_url: str,
) -> None:
    await asyncio.gather(migrate.upgrade(empty_database_url), migrate.upgrade(empty_database_url))
    assert await migrate.current(empty_database_url) == migrate.head()
    assert await _schema_differences(empty_database_url) == []


async def test_upgrading_a_database_at_head_changes_nothing(database_url: str) -> None:
    await migrate.upgrade(database_url)
    assert await migrate.current(database_url) == migrate.head()


def test_no_table_has_a_column_for_addresses_agents_codes_passphrases_or_plaintext() -> None:
    fragments = ("passphrase", "password", "plaintext", "agent", "address", "pickup", "cookie")
    words = ("ip", "code", "locator", "body", "text")
    allowed = {"locator_hash"}  # keyed BLAKE2b of the locator: the only trace of the code
    offending = [
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name not in allowed
        and (
            any(fragment in column.name for fragment in fragments)
            or any(word in column.name.split("_") for word in words)
        )
    ]
    assert offending == []
