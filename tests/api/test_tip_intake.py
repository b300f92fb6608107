"""New tips that arrive together share one unit of work (domain/tip_intake.py), and yet every
tip keeps its own answer: its refusal, its conflict, its alarm, its commit before its 201.

Tips submitted in the same turn of the event loop form one group deterministically (the
writer starts after them), so these tests hand them to the app's own intake together and
count the units of work on the real engine.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from gateway.config import Settings
from gateway.crypto.envelope import Envelope
from gateway.domain.directory import DirectoryBook
from gateway.domain.errors import Conflict, InvalidInput, RecipientNotVetted, UnknownAttachment
from gateway.domain.hotline import EmergencyRules, Hotline
from gateway.domain.reporter_access import locator_hash
from gateway.domain.tip_intake import COMPANY, NewTip, TipIntake, WrittenTip
from gateway.store import Database, DatabaseUnavailable
from tests.api.reporter_support import (
    AnonymousReporter,
    Client,
    outbox,
    sealed,
    submit_headers,
    tip_body,
    tip_recipients,
    vet_with_account,
)
from tests.fixtures.organisation import Organisation, VettedPerson


def new_tip(
    hotline: Hotline,
    reporter: AnonymousReporter,
    envelope: Envelope,
    *,
    urgent: bool = False,
    attachment_ids: tuple[uuid.UUID, ...] = (),
) -> NewTip:
    return NewTip(
        locator_hash=locator_hash(hotline, reporter.locator),
        reporter_public_key=reporter.keys.public,
        urgent=urgent,
        envelope=envelope.encode(),
        envelope_kids=envelope.recipient_kids,
        attachment_ids=attachment_ids,
        received_at=datetime.now(UTC),
    )


def tip_for(hotline: Hotline, triage: list[VettedPerson], **options: Any) -> NewTip:
    reporter = AnonymousReporter()
    return new_tip(hotline, reporter, sealed("tip", tip_recipients(triage, reporter)), **options)


@pytest.fixture
async def counted_intake(
    settings: Settings, hotline: Hotline, organisation: Organisation
) -> AsyncIterator[tuple[TipIntake, list[int]]]:
    """An intake on a database handle of its own, and how many units of work it has begun.

    The app's own handle also serves its background work (the relay polls), so its
    begins would not all be the intake's.
    """
    own = Database.from_url(settings.database_url)
    intake = TipIntake(
        own, DirectoryBook(own, organisation.public_key, hotline.clock), EmergencyRules()
    )
    try:
        with counted_units(own) as units:
            yield intake, units
    finally:
        await intake.close()
        await own.close()


@contextmanager
def counted_units(database: Database) -> Iterator[list[int]]:
    """How many units of work take a connection meanwhile (a list holding one count): each
    unit, plain or not, takes one from the pool."""
    units = [0]

    def on_checkout(*_: Any) -> None:
        units[0] += 1

    pool = database.engine.sync_engine.pool
    event.listen(pool, "checkout", on_checkout)
    try:
        yield units
    finally:
        event.remove(pool, "checkout", on_checkout)


async def submit_together(intake: TipIntake, tips: list[NewTip]) -> list[Any]:
    return await asyncio.gather(*(intake.submit(tip) for tip in tips), return_exceptions=True)


async def stored_case_ids(hotline: Hotline, tips: list[NewTip]) -> list[uuid.UUID | None]:
    return await case_ids_by_locator_hash(hotline, [tip.locator_hash for tip in tips])


async def case_ids_by_locator_hash(hotline: Hotline, hashes: list[bytes]) -> list[uuid.UUID | None]:
    async with hotline.database.transaction(read_only=True) as tx:
        found = [await tx.cases.find_by_locator_hash(hashed) for hashed in hashes]
    return [case.id if case is not None else None for case in found]


@pytest.fixture
async def triage(hotline: Hotline, organisation: Organisation) -> list[VettedPerson]:
    return [await vet_with_account(hotline, organisation, "triage") for _ in range(2)]


async def test_tips_that_arrive_together_are_written_in_one_unit_each_with_all_its_rows(
    hotline: Hotline,
    triage: list[VettedPerson],
    counted_intake: tuple[TipIntake, list[int]],
) -> None:
    intake, units = counted_intake
    tips = [tip_for(hotline, triage) for _ in range(12)]

    answers = await submit_together(intake, tips)

    assert units == [1]
    assert all(isinstance(answer, WrittenTip) for answer in answers)
    assert await stored_case_ids(hotline, tips) == [answer.case_id for answer in answers]
    async with hotline.database.transaction(read_only=True) as tx:
        for answer in answers:
            assert [m.seq for m in await tx.messages.list_for_case(answer.case_id)] == [1]
            assert sorted(map(str, await tx.inbox.investigators_of_case(answer.case_id))) == sorted(
                person.investigator_id for person in triage
            )
            case = await tx.cases.get(answer.case_id)
            assert case is not None
            assert case.last_message_seq == 1
    events = [(topic, case_id) for topic, _, case_id in await outbox(hotline.database)]
    assert sorted(events, key=str) == sorted(
        [("case.created", answer.case_id) for answer in answers], key=str
    )


async def test_tips_arriving_one_by_one_while_a_group_is_written_wait_to_form_the_next_group(
    hotline: Hotline,
    triage: list[VettedPerson],
    counted_intake: tuple[TipIntake, list[int]],
) -> None:
    """Fewer than `COMPANY` latecomers start no second writer: each would write alone."""
    intake, units = counted_intake
    first, *latecomers = [tip_for(hotline, triage) for _ in range(4)]
    assert len(latecomers) < COMPANY
    submitted = [asyncio.create_task(intake.submit(first))]
    for tip in latecomers:
        await asyncio.sleep(0)  # one turn of the event loop: the first group is in flight
        submitted.append(asyncio.create_task(intake.submit(tip)))

    answers = await asyncio.gather(*submitted)

    assert units == [2]
    assert all(isinstance(answer, WrittenTip) for answer in answers)


async def test_a_refused_tip_gets_its_own_refusal_and_the_rest_of_its_group_is_written(
    hotline: Hotline,
    triage: list[VettedPerson],
    counted_intake: tuple[TipIntake, list[int]],
) -> None:
    intake, units = counted_intake
    reporter = AnonymousReporter()
    missing_a_recipient = new_tip(
        hotline, reporter, sealed("tip", tip_recipients(triage[:1], reporter))
    )
    investigator_as_reporter = replace(
        tip_for(hotline, triage), reporter_public_key=triage[0].keys.enc.public
    )
    good = [tip_for(hotline, triage) for _ in range(3)]
    tips = [good[0], missing_a_recipient, good[1], investigator_as_reporter, good[2]]

    answers = await submit_together(intake, tips)

    assert units == [1]
    assert isinstance(answers[1], RecipientNotVetted)
    assert isinstance(answers[3], InvalidInput)
    assert [isinstance(answers[i], WrittenTip) for i in (0, 2, 4)] == [True, True, True]
    stored = await stored_case_ids(hotline, tips)
    assert stored[1] is None
    assert stored[3] is None
    assert None not in (stored[0], stored[2], stored[4])


async def test_a_pickup_code_in_use_refuses_only_the_tip_that_reuses_it(
    hotline: Hotline, triage: list[VettedPerson]
) -> None:
    earlier = tip_for(hotline, triage)
    first = await hotline.tip_intake.submit(earlier)
    twice = tip_for(hotline, triage)
    tips = [
        tip_for(hotline, triage),
        replace(tip_for(hotline, triage), locator_hash=earlier.locator_hash),
        twice,
        replace(tip_for(hotline, triage), locator_hash=twice.locator_hash),
    ]

    answers = await submit_together(hotline.tip_intake, tips)

    assert isinstance(answers[0], WrittenTip)
    assert isinstance(answers[1], Conflict)
    assert isinstance(answers[2], WrittenTip)
    assert isinstance(answers[3], Conflict)
    assert await stored_case_ids(hotline, [earlier, tips[0], twice]) == [
        first.case_id,
        answers[0].case_id,
        answers[2].case_id,
    ]
    async with hotline.database.transaction(read_only=True) as tx:
        # The refused tips left no message behind on the case whose code they reused.
        assert [m.seq for m in await tx.messages.list_for_case(first.case_id)] == [1]


async def test_a_tip_with_attachments_is_written_in_a_group_of_its_own(
    hotline: Hotline,
    triage: list[VettedPerson],
    counted_intake: tuple[TipIntake, list[int]],
) -> None:
    intake, units = counted_intake
    before = tip_for(hotline, triage)
    claiming_an_unknown_upload = tip_for(hotline, triage, attachment_ids=(uuid.uuid4(),))
    after = [tip_for(hotline, triage) for _ in range(3)]

    answers = await submit_together(intake, [before, claiming_an_unknown_upload, *after])

    # [before] | [the one with attachments] | [the three after it]
    assert units == [3]
    assert isinstance(answers[1], UnknownAttachment)
    assert all(isinstance(answer, WrittenTip) for answer in (answers[0], *answers[2:]))
    assert (await stored_case_ids(hotline, [claiming_an_unknown_upload])) == [None]


async def test_a_group_that_fails_for_an_unexpected_reason_is_retried_tip_by_tip(
    hotline: Hotline,
    triage: list[VettedPerson],
    counted_intake: tuple[TipIntake, list[int]],
) -> None:
    intake, units = counted_intake
    good = [tip_for(hotline, triage) for _ in range(3)]
    broken = replace(tip_for(hotline, triage), locator_hash=b"short")

    answers = await submit_together(intake, [good[0], broken, good[1], good[2]])

    assert units == [1 + 4]  # the group, then each tip alone
    assert isinstance(answers[1], ValueError)
    assert [isinstance(answers[i], WrittenTip) for i in (0, 2, 3)] == [True, True, True]
    assert None not in await stored_case_ids(hotline, good)


async def test_only_the_urgent_tip_of_a_group_sounds_an_alarm(
    hotline: Hotline, triage: list[VettedPerson]
) -> None:
    tips = [
        tip_for(hotline, triage),
        tip_for(hotline, triage, urgent=True),
        tip_for(hotline, triage),
    ]

    answers = await submit_together(hotline.tip_intake, tips)

    emergencies = [
        case_id for topic, _, case_id in await outbox(hotline.database) if topic == "case.emergency"
    ]
    assert emergencies == [answers[1].case_id]
    async with hotline.database.transaction(read_only=True) as tx:
        cases = [await tx.cases.get(answer.case_id) for answer in answers]
    assert [case.urgent for case in cases if case] == [False, True, False]
    assert [case.next_escalation_at is not None for case in cases if case] == [False, True, False]


async def test_a_tip_whose_request_is_cancelled_before_its_group_is_written_is_not_written(
    hotline: Hotline, triage: list[VettedPerson]
) -> None:
    tips = [tip_for(hotline, triage) for _ in range(3)]
    requests = [asyncio.create_task(hotline.tip_intake.submit(tip)) for tip in tips]
    await asyncio.sleep(0)  # every request has queued its tip; the writer has not run yet

    requests[1].cancel()
    answers = await asyncio.gather(*requests, return_exceptions=True)

    assert isinstance(answers[1], asyncio.CancelledError)
    stored = await stored_case_ids(hotline, tips)
    assert stored[1] is None
    assert stored[0] is not None
    assert stored[2] is not None


async def test_an_outage_answers_every_tip_of_the_group_as_it_would_alone(
    hotline: Hotline, triage: list[VettedPerson], organisation: Organisation
) -> None:
    unreachable = Database.from_url(
        "postgresql+asyncpg://postgres@127.0.0.1:9/none", connect_timeout=1.0
    )
    intake = TipIntake(
        unreachable,
        DirectoryBook(unreachable, organisation.public_key, hotline.clock),
        EmergencyRules(),
    )
    try:
        answers = await submit_together(intake, [tip_for(hotline, triage) for _ in range(3)])
    finally:
        await unreachable.close()

    assert [type(answer) for answer in answers] == [DatabaseUnavailable] * 3


async def test_concurrent_tips_through_the_api_are_all_answered_201_and_all_stored(
    client: Client, hotline: Hotline, triage: list[VettedPerson]
) -> None:
    reporters = [AnonymousReporter() for _ in range(16)]
    bodies = [
        tip_body(
            reporter, sealed("tip", tip_recipients(triage, reporter), body=os.urandom(8).hex())
        )
        for reporter in reporters
    ]
    proofs = [await submit_headers(client) for _ in bodies]

    responses = await asyncio.gather(
        *(
            client.post("/api/v1/cases", json=body, headers=proof)
            for body, proof in zip(bodies, proofs, strict=True)
        )
    )

    assert [response.status for response in responses] == [201] * len(bodies)
    hashes = [locator_hash(hotline, reporter.locator) for reporter in reporters]
    assert None not in await case_ids_by_locator_hash(hotline, hashes)
