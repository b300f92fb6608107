"""Messages: per-case sequence numbers, who may see what, and the index of recipients."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gateway.store import Database, RecordNotFound, Transaction
from gateway.store.records import Message, MessageKind, Recipient, RecipientKind
from tests.unit.store.builders import add_case, add_investigator, at, envelope, key_id

REPORTER_KEY = bytes(range(16))


async def _append(
    tx: Transaction,
    case_id: uuid.UUID,
    *,
    kind: MessageKind = MessageKind.REPLY,
    minute: float = 1,
    visible_to_reporter: bool = True,
    author_id: uuid.UUID | None = None,
    recipients: list[Recipient] | None = None,
) -> Message:
    return await tx.messages.append(
        case_id,
        kind=kind,
        author_id=author_id,
        visible_to_reporter=visible_to_reporter,
        envelope=envelope(),
        recipients=recipients or [Recipient(key_id=key_id(), kind=RecipientKind.REPORTER)],
        at=at(minute),
    )


async def test_each_case_numbers_its_messages_one_two_three(database: Database) -> None:
    async with database.transaction() as tx:
        first, _ = await add_case(tx)
        second, _ = await add_case(tx)
        a = await _append(tx, first.id)
        b = await _append(tx, second.id)
        c = await _append(tx, first.id)
    assert (a.seq, b.seq, c.seq) == (2, 2, 3)
    async with database.transaction(read_only=True) as tx:
        listed = await tx.messages.list_for_case(first.id)
        after_two = await tx.messages.list_for_case(first.id, after_seq=2)
    assert [message.seq for message in listed] == [1, 2, 3]
    assert after_two == [c]


async def test_concurrent_messages_to_one_case_never_share_a_number(
    database: Database, database_url: str
) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
    other_process = Database.from_url(database_url)

    async def reply(handle: Database, minute: int) -> int:
        async with handle.transaction() as tx:
            return (await _append(tx, case.id, minute=minute)).seq

    try:
        seqs = await asyncio.gather(
            *(reply(database if n % 2 else other_process, n) for n in range(20))
        )
    finally:
        await other_process.close()
    assert sorted(seqs) == list(range(2, 22))


async def test_the_reporter_sees_no_internal_note(database: Database) -> None:
    async with database.transaction() as tx:
        person = await add_investigator(tx)
        case, tip = await add_case(tx, investigators=[person.id])
        question = await _append(
            tx, case.id, kind=MessageKind.FOLLOWUP, author_id=person.id, minute=2
        )
        await _append(
            tx,
            case.id,
            kind=MessageKind.NOTE,
            author_id=person.id,
            visible_to_reporter=False,
            minute=3,
        )
        answer = await _append(tx, case.id, kind=MessageKind.REPLY, minute=4)
    async with database.transaction(read_only=True) as tx:
        everything = await tx.messages.list_for_case(case.id)
        for_reporter = await tx.messages.list_for_case(case.id, reporter_visible_only=True)
    assert [message.kind for message in everything] == [
        MessageKind.TIP,
        MessageKind.FOLLOWUP,
        MessageKind.NOTE,
        MessageKind.REPLY,
    ]
    assert for_reporter == [tip, question, answer]


async def test_messages_are_stored_byte_for_byte_with_their_size(database: Database) -> None:
    ciphertext = bytes(range(256)) * 7
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
        stored = await tx.messages.append(
            case.id,
            kind=MessageKind.REPLY,
            author_id=None,
            visible_to_reporter=True,
            envelope=ciphertext,
            recipients=[Recipient(key_id=key_id(), kind=RecipientKind.REPORTER)],
            at=at(1),
        )
    async with database.transaction(read_only=True) as tx:
        found = await tx.messages.get(stored.id)
    assert found is not None
    assert found.envelope == ciphertext
    assert found.size == len(ciphertext)


async def test_a_case_can_be_read_as_the_messages_wrapped_for_one_key(database: Database) -> None:
    async with database.transaction() as tx:
        person = await add_investigator(tx)
        case, _ = await add_case(tx)
        investigator_key = key_id()
        to_both = await _append(
            tx,
            case.id,
            recipients=[
                Recipient(key_id=REPORTER_KEY, kind=RecipientKind.REPORTER),
                Recipient(
                    key_id=investigator_key,
                    kind=RecipientKind.INVESTIGATOR,
                    investigator_id=person.id,
                ),
            ],
        )
        only_investigator = await _append(
            tx,
            case.id,
            visible_to_reporter=False,
            recipients=[
                Recipient(
                    key_id=investigator_key,
                    kind=RecipientKind.INVESTIGATOR,
                    investigator_id=person.id,
                )
            ],
        )
    async with database.transaction(read_only=True) as tx:
        for_reporter_key = await tx.messages.list_for_case(case.id, wrapped_for=REPORTER_KEY)
        for_investigator = await tx.messages.list_for_case(case.id, wrapped_for=investigator_key)
        recipients = await tx.messages.recipients(to_both.id)
        of_case = await tx.messages.recipients_of_case(case.id)
    assert for_reporter_key == [to_both]
    assert for_investigator == [to_both, only_investigator]
    assert sorted(recipients, key=lambda r: r.key_id) == sorted(
        [
            Recipient(key_id=REPORTER_KEY, kind=RecipientKind.REPORTER),
            Recipient(
                key_id=investigator_key,
                kind=RecipientKind.INVESTIGATOR,
                investigator_id=person.id,
            ),
        ],
        key=lambda r: r.key_id,
    )
    # The tip's own reporter key plus the two keys above, each once.
    assert len(of_case) == 3
    assert {r.investigator_id for r in of_case} == {None, person.id}


async def test_a_message_for_a_missing_case_is_refused(database: Database) -> None:
    async def append_to_nothing() -> None:
        async with database.transaction() as tx:
            await _append(tx, uuid.uuid4())

    with pytest.raises(RecordNotFound):
        await append_to_nothing()


@pytest.mark.parametrize(
    ("recipients", "complaint"),
    [
        ([], "at least one recipient"),
        ([Recipient(key_id=b"\x01" * 15, kind=RecipientKind.REPORTER)], "16 bytes"),
        (
            [
                Recipient(key_id=REPORTER_KEY, kind=RecipientKind.REPORTER),
                Recipient(key_id=REPORTER_KEY, kind=RecipientKind.RECOVERY),
            ],
            "each recipient key once",
        ),
    ],
)
async def test_a_message_with_missing_malformed_or_repeated_recipients_is_refused(
    database: Database, recipients: list[Recipient], complaint: str
) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
        with pytest.raises(ValueError, match=complaint):
            await tx.messages.append(
                case.id,
                kind=MessageKind.REPLY,
                author_id=None,
                visible_to_reporter=True,
                envelope=envelope(),
                recipients=recipients,
                at=at(1),
            )


async def test_a_message_counts_as_activity_on_its_case(database: Database) -> None:
    async with database.transaction() as tx:
        case, _ = await add_case(tx)
        await _append(tx, case.id, minute=42)
        updated = await tx.cases.get(case.id)
    assert updated is not None
    assert updated.last_activity_at == at(42)
    assert updated.last_message_seq == 2
