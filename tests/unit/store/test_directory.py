"""The stored directory: append-only, numbered without gaps, never forked."""

from __future__ import annotations

import asyncio

import pytest

from gateway.store import Database, DirectorySequenceRefused
from tests.unit.store.builders import append_directory_entry


async def test_entries_are_appended_in_order_and_kept_byte_for_byte(database: Database) -> None:
    canonical = b'{"enc_pk":"abc","kind":"add","seq":1,"v":1}'
    async with database.transaction() as tx:
        first = await append_directory_entry(tx, 1, entry_bytes=canonical)
        second = await append_directory_entry(tx, 2)
        third = await append_directory_entry(tx, 3)
    async with database.transaction(read_only=True) as tx:
        listed = await tx.directory.list_all()
        tail = await tx.directory.tail()
        head = await tx.directory.head()
    assert listed == [first, second, third]
    assert listed[0].entry_bytes == canonical
    assert tail == third
    assert head == (third.seq, third.entry_hash)


async def test_an_empty_directory_has_no_head(database: Database) -> None:
    async with database.transaction(read_only=True) as tx:
        assert await tx.directory.head() is None
        assert await tx.directory.tail() is None


@pytest.mark.parametrize("wrong_seq", [0, 2, 5])
async def test_the_first_entry_must_be_number_one(database: Database, wrong_seq: int) -> None:
    async with database.transaction() as tx:
        with pytest.raises(DirectorySequenceRefused, match="number 1"):
            await append_directory_entry(tx, wrong_seq)


@pytest.mark.parametrize("wrong_seq", [1, 2, 4])
async def test_an_entry_that_repeats_or_skips_a_number_is_refused(
    database: Database, wrong_seq: int
) -> None:
    async with database.transaction() as tx:
        await append_directory_entry(tx, 1)
        await append_directory_entry(tx, 2)

    async def append_wrong() -> None:
        async with database.transaction() as tx:
            await append_directory_entry(tx, wrong_seq)

    with pytest.raises(DirectorySequenceRefused):
        await append_wrong()
    async with database.transaction(read_only=True) as tx:
        assert [entry.seq for entry in await tx.directory.list_all()] == [1, 2]


async def test_of_two_entries_posted_at_once_with_one_number_exactly_one_is_kept(
    database: Database, database_url: str
) -> None:
    async with database.transaction() as tx:
        await append_directory_entry(tx, 1)
    other_process = Database.from_url(database_url)

    async def post(handle: Database) -> bool:
        try:
            async with handle.transaction() as tx:
                await append_directory_entry(tx, 2)
        except DirectorySequenceRefused:
            return False
        return True

    try:
        outcomes = await asyncio.gather(*(post(h) for h in [database, other_process] * 3))
    finally:
        await other_process.close()
    assert sorted(outcomes) == [False] * 5 + [True]
    async with database.transaction(read_only=True) as tx:
        assert [entry.seq for entry in await tx.directory.list_all()] == [1, 2]
