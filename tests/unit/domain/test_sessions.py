"""Sessions resolve to a caller only while the account is active and vetted with its keys."""

from __future__ import annotations

import pytest

from gateway.domain.errors import Unauthenticated
from gateway.domain.hotline import Hotline
from gateway.domain.vetting import record_entry
from tests.api.investigator_support import (
    Client,
    enroll_person,
    revoke_entry,
    sessions_of,
    vetted_person,
)
from tests.fixtures.organisation import Organisation


async def test_a_session_resolves_to_its_vetted_investigator(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    book = sessions_of(hotline)
    issued = await book.open(person.investigator_id)

    caller = await book.caller(issued.token)

    assert caller.id == person.investigator_id
    assert caller.roles == frozenset({"triage"})
    assert len(issued.token) == 43


async def test_a_session_of_an_account_that_is_not_vetted_is_refused_and_removed(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    pending = await enroll_person(hotline, "triage")
    book = sessions_of(hotline)
    issued = await book.open(pending.investigator_id)

    with pytest.raises(Unauthenticated):
        await book.caller(issued.token)
    assert await book.owner(issued.token) is None


async def test_revocation_ends_every_session_of_the_investigator(
    client: Client, hotline: Hotline, organisation: Organisation
) -> None:
    person = await vetted_person(hotline, organisation, "triage")
    book = sessions_of(hotline)
    tokens = [(await book.open(person.investigator_id)).token for _ in range(3)]

    await record_entry(hotline, book, await revoke_entry(hotline, organisation, person))

    for token in tokens:
        assert await book.owner(token) is None


@pytest.mark.parametrize("token", ["", "short", "x" * 44, "!" * 43])
async def test_malformed_tokens_never_reach_the_broker(
    client: Client, hotline: Hotline, token: str
) -> None:
    book = sessions_of(hotline)
    assert await book.owner(token) is None
    with pytest.raises(Unauthenticated):
        await book.caller(token)


async def test_an_unknown_well_formed_token_is_refused(client: Client, hotline: Hotline) -> None:
    with pytest.raises(Unauthenticated):
        await sessions_of(hotline).caller("A" * 43)
