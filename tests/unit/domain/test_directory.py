"""The directory book: only entries that verify are kept, and it re-verifies what it stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from gateway.crypto.directory import Directory, sign_entry
from gateway.crypto.errors import BadDirectory
from gateway.crypto.keys import Ed25519KeyPair
from gateway.domain.clock import SystemClock
from gateway.domain.directory import (
    DirectoryBook,
    DirectoryCorrupt,
    OrganisationNotConfigured,
)
from gateway.domain.errors import Conflict, InvalidInput
from gateway.store import Database
from gateway.store.models import DirectoryEntryRow
from tests.fixtures.organisation import Organisation


@pytest.fixture
def book(database: Database, organisation: Organisation) -> DirectoryBook:
    return DirectoryBook(database, organisation.public_key, SystemClock())


async def test_an_empty_directory_vets_nobody(book: DirectoryBook) -> None:
    directory = await book.current()
    assert directory.entries == ()
    assert (await book.vetted()).members == ()


async def test_entries_signed_by_the_organisation_vet_investigators(
    book: DirectoryBook, organisation: Organisation
) -> None:
    triage = await organisation.vet(book, "triage")
    liaison = await organisation.vet(book, "liaison", "investigator")

    vetted = await book.vetted()
    assert {member.investigator_id for member in vetted.members} == {
        triage.investigator_id,
        liaison.investigator_id,
    }
    assert [m.investigator_id for m in vetted.with_role("triage")] == [triage.investigator_id]


async def test_a_revoked_investigator_is_no_longer_vetted(
    book: DirectoryBook, organisation: Organisation
) -> None:
    person = await organisation.vet(book, "triage")
    await organisation.revoke(book, person)
    assert (await book.vetted()).by_id(person.investigator_id) is None


async def test_an_entry_signed_by_another_key_is_refused_and_not_stored(
    book: DirectoryBook, database: Database, organisation: Organisation
) -> None:
    impostor = Organisation(key=Ed25519KeyPair.generate())
    signed, _ = await impostor.sign_add(book, "triage")

    with pytest.raises(BadDirectory):
        await book.append(signed)
    async with database.transaction(read_only=True) as tx:
        assert await tx.directory.list_all() == []


async def test_an_entry_for_a_non_account_id_is_refused(
    book: DirectoryBook, organisation: Organisation
) -> None:
    signed, _ = await organisation.sign_add(book, "triage", investigator_id="alice")
    with pytest.raises(InvalidInput):
        await book.append(signed)


async def test_a_second_process_that_appended_first_wins_and_the_loser_must_resign(
    database: Database, organisation: Organisation
) -> None:
    first = DirectoryBook(database, organisation.public_key, SystemClock())
    second = DirectoryBook(database, organisation.public_key, SystemClock())
    signed_by_first, _ = await organisation.sign_add(first, "triage")
    signed_by_second, _ = await organisation.sign_add(second, "triage")

    await first.append(signed_by_first)
    with pytest.raises((Conflict, BadDirectory)):
        await second.append(signed_by_second)
    # The second book sees the first's entry: it reloads when the stored head moved.
    assert len((await second.current()).entries) == 1


async def test_an_expired_entry_vets_nobody(
    book: DirectoryBook, organisation: Organisation
) -> None:
    signed, person = await organisation.sign_add(book, "triage", valid_for=timedelta(seconds=-1))
    await book.append(signed)
    assert (await book.vetted()).by_id(person.investigator_id) is None


async def test_a_row_edited_in_the_database_makes_the_directory_refuse_to_serve(
    book: DirectoryBook, database: Database, organisation: Organisation
) -> None:
    await organisation.vet(book, "triage")
    forged, _ = await Organisation().sign_add(book, "triage")
    # An attacker with write access to the database, not through the gateway.
    async with database.engine.begin() as connection:
        await connection.execute(update(DirectoryEntryRow).values(signature=forged.signature))
    fresh = DirectoryBook(database, organisation.public_key, SystemClock())
    with pytest.raises(DirectoryCorrupt):
        await fresh.current()


async def test_without_an_organisation_key_the_directory_is_not_configured(
    database: Database,
) -> None:
    with pytest.raises(OrganisationNotConfigured):
        await DirectoryBook(database, None, SystemClock()).current()


def test_signing_helpers_produce_canonical_entries(organisation: Organisation) -> None:
    # Guards the fixture itself: a wrong helper would make every test above meaningless.
    empty = Directory.empty(organisation.public_key)
    entry = empty.add_entry(
        investigator_id="0b0e2f1c-5f3a-4c8e-9d3e-2a1b3c4d5e6f",
        name="x",
        roles=("triage",),
        enc_pk=bytes(32),
        sig_pk=bytes([1]) * 32,
        not_after=int((datetime.now(UTC) + timedelta(days=1)).timestamp()),
    )
    assert empty.extend(sign_entry(organisation.key, entry)).next_seq == 2
