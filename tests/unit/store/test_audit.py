"""The stored audit chain: appends link onto the tail, never fork, and survive purges."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable

import pytest

from gateway.store import AuditChainRefused, Database
from gateway.store.records import AuditEntry, AuditLink
from tests.unit.store.builders import add_case, at

GENESIS = bytes(32)


def _seal(
    action: str, *, case_id: uuid.UUID | None = None, minute: float = 1
) -> Callable[[AuditLink], AuditEntry]:
    """What the domain does: hash the entry together with its place in the chain."""

    def seal(link: AuditLink) -> AuditEntry:
        prev_hash = link.prev_hash or GENESIS
        details = {"status": "triage"}
        body = json.dumps(
            [link.seq, action, str(case_id), details, prev_hash.hex()], sort_keys=True
        ).encode()
        return AuditEntry(
            seq=link.seq,
            recorded_at=at(minute),
            actor_id=None,
            action=action,
            case_id=case_id,
            details=details,
            prev_hash=prev_hash,
            entry_hash=hashlib.blake2b(body, key=b"audit key", digest_size=32).digest(),
        )

    return seal


def _unbroken(entries: list[AuditEntry]) -> bool:
    expected_prev = GENESIS
    for number, entry in enumerate(entries, start=1):
        if entry.seq != number or entry.prev_hash != expected_prev:
            return False
        expected_prev = entry.entry_hash
    return True


async def test_entries_chain_onto_the_tail_one_after_another(database: Database) -> None:
    async with database.transaction() as tx:
        first = await tx.audit.append(_seal("case.open"))
        second = await tx.audit.append(_seal("case.status"))
    async with database.transaction(read_only=True) as tx:
        tail = await tx.audit.tail()
        listed = await tx.audit.list_after(0)
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_hash == first.entry_hash
    assert tail == second
    assert listed == [first, second]


async def test_an_entry_that_does_not_link_to_the_tail_is_refused(database: Database) -> None:
    async with database.transaction() as tx:
        await tx.audit.append(_seal("case.open"))

    def stale_seal(link: AuditLink) -> AuditEntry:
        return _seal("case.export")(AuditLink(seq=link.seq, prev_hash=None))

    def wrong_number(link: AuditLink) -> AuditEntry:
        return _seal("case.export")(AuditLink(seq=link.seq + 1, prev_hash=link.prev_hash))

    for seal in (stale_seal, wrong_number):
        with pytest.raises(AuditChainRefused):
            async with database.transaction() as tx:
                await tx.audit.append(seal)


async def test_appends_from_two_processes_at_once_form_one_unbroken_chain(
    database: Database, database_url: str
) -> None:
    other_process = Database.from_url(database_url)

    async def record(handle: Database, number: int) -> None:
        async with handle.transaction() as tx:
            await tx.audit.append(_seal(f"action.{number}"))

    try:
        await asyncio.gather(*(record(h, n) for n, h in enumerate([database, other_process] * 8)))
    finally:
        await other_process.close()
    async with database.transaction(read_only=True) as tx:
        entries = [entry async for entry in tx.audit.iterate(batch_size=3)]
    assert len(entries) == 16
    assert _unbroken(entries)


async def test_iterating_walks_the_whole_chain_in_order_across_batches(
    database: Database,
) -> None:
    async with database.transaction() as tx:
        for number in range(7):
            await tx.audit.append(_seal(f"action.{number}"))
    async with database.transaction(read_only=True) as tx:
        in_threes = [entry.seq async for entry in tx.audit.iterate(batch_size=3)]
        in_sevens = [entry.seq async for entry in tx.audit.iterate(batch_size=7)]
        after_five = await tx.audit.list_after(5)
    assert in_threes == in_sevens == list(range(1, 8))
    assert [entry.seq for entry in after_five] == [6, 7]


async def test_a_cases_part_of_the_trail_outlives_the_case(database: Database) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
        other, _ = await add_case(tx)
        await tx.audit.append(_seal("case.open", case_id=case.id))
        await tx.audit.append(_seal("case.open", case_id=other.id))
        await tx.audit.append(_seal("case.status", case_id=case.id))
    async with database.transaction() as tx:
        await tx.cases.purge(case.id)
        await tx.audit.append(_seal("case.purge", case_id=case.id))
    async with database.transaction(read_only=True) as tx:
        trail = await tx.audit.for_case(case.id)
        everything = [entry async for entry in tx.audit.iterate()]
    assert [(entry.seq, entry.action) for entry in trail] == [
        (1, "case.open"),
        (3, "case.status"),
        (4, "case.purge"),
    ]
    assert _unbroken(everything)
