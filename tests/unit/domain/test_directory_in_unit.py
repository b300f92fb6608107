"""The directory read inside the caller's unit of work: one unit per request instead of two,
and still never a stale chain."""

from __future__ import annotations

from typing import Any, NoReturn, cast

import pytest

from gateway.domain.clock import SystemClock
from gateway.domain.directory import DirectoryBook, OrganisationNotConfigured
from gateway.store import Database
from tests.fixtures.organisation import Organisation


class UnitsForbidden:
    """Stands in for the database where the book must not open a unit of its own."""

    def transaction(self, **_options: Any) -> NoReturn:
        raise AssertionError("the directory opened a unit of work of its own")


async def test_a_read_in_the_callers_unit_sees_an_entry_another_process_appended(
    database: Database, organisation: Organisation
) -> None:
    reader = DirectoryBook(database, organisation.public_key, SystemClock())
    writer = DirectoryBook(database, organisation.public_key, SystemClock())
    assert (await reader.vetted()).members == ()  # cached, empty

    person = await organisation.vet(writer, "triage")

    async with database.transaction(read_only=True) as tx:
        vetted = await reader.vetted(tx)
    assert vetted.by_id(person.investigator_id) is not None


async def test_a_read_in_the_callers_unit_opens_no_unit_of_its_own(
    database: Database, organisation: Organisation
) -> None:
    person = await organisation.vet(
        DirectoryBook(database, organisation.public_key, SystemClock()), "triage"
    )
    book = DirectoryBook(cast(Database, UnitsForbidden()), organisation.public_key, SystemClock())

    async with database.transaction() as tx:
        first = await book.vetted(tx)
        again = await book.current(tx)

    assert first.by_id(person.investigator_id) is not None
    assert len(again.entries) == 1


async def test_without_an_organisation_key_nothing_is_read_in_the_callers_unit(
    database: Database,
) -> None:
    book = DirectoryBook(database, None, SystemClock())
    async with database.transaction(read_only=True) as tx:
        with pytest.raises(OrganisationNotConfigured):
            await book.vetted(tx)
