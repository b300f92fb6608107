"""Investigators, invites and enrollments: accounts, single-use invites, vetting decisions."""

from __future__ import annotations

import asyncio
import os

import pytest

from gateway.store import Database, InviteAlreadyEnrolled, UsernameTaken
from gateway.store.records import EnrollmentStatus, InvestigatorStatus, Invite
from tests.unit.store.builders import T0, add_investigator, at


async def test_an_investigator_is_found_by_username_and_by_id(database: Database) -> None:
    async with database.transaction() as tx:
        created = await add_investigator(tx, "anna", roles=["investigator", "liaison"])
    async with database.transaction(read_only=True) as tx:
        by_name = await tx.investigators.find_by_username("anna")
        by_id = await tx.investigators.get(created.id)
        nobody = await tx.investigators.find_by_username("Anna")
    assert by_name == by_id == created
    assert created.roles == ("investigator", "liaison")
    assert created.kdf_params["alg"] == "argon2id"
    assert created.status is InvestigatorStatus.ACTIVE
    assert nobody is None


async def test_a_username_is_taken_once(database: Database) -> None:
    async with database.transaction() as tx:
        await add_investigator(tx, "anna")

    async def again() -> None:
        async with database.transaction() as tx:
            await add_investigator(tx, "anna")

    with pytest.raises(UsernameTaken):
        await again()


async def test_an_investigator_who_is_not_active_is_never_on_duty(database: Database) -> None:
    async with database.transaction() as tx:
        person = await add_investigator(tx)
        on_duty = await tx.investigators.set_on_duty(person.id, True)
        revoked = await tx.investigators.set_status(person.id, InvestigatorStatus.REVOKED)
    assert on_duty is not None
    assert on_duty.on_duty
    assert revoked is not None
    assert revoked.status is InvestigatorStatus.REVOKED
    assert not revoked.on_duty


async def test_roles_logins_and_credentials_are_updated(database: Database) -> None:
    async with database.transaction() as tx:
        person = await add_investigator(tx)
        await tx.investigators.set_roles(person.id, ["investigator", "admin"])
        await tx.investigators.record_login(person.id, at=at(5))
        new_bundle = os.urandom(210)
        await tx.investigators.replace_credentials(
            person.id,
            auth_salt=os.urandom(16),
            kdf_params={"alg": "argon2id", "ops": 4, "mem": 134217728},
            auth_key_hash=os.urandom(32),
            key_bundle=new_bundle,
        )
    async with database.transaction(read_only=True) as tx:
        stored = await tx.investigators.get(person.id)
        listed = await tx.investigators.list_all(statuses=[InvestigatorStatus.ACTIVE])
        pending = await tx.investigators.list_all(statuses=[InvestigatorStatus.PENDING])
        many = await tx.investigators.get_many([person.id])
    assert stored is not None
    assert stored.roles == ("investigator", "admin")
    assert stored.last_login_at == at(5)
    assert stored.key_bundle == new_bundle
    assert stored.kdf_params["ops"] == 4
    assert listed == many == [stored]
    assert pending == []


async def _invite(database: Database, *, expires_in: float = 60) -> tuple[bytes, Invite]:
    token_hash = os.urandom(32)
    async with database.transaction() as tx:
        invite = await tx.invites.create(
            token_hash=token_hash,
            roles=["investigator"],
            created_by=None,
            at=T0,
            expires_at=at(expires_in),
        )
    return token_hash, invite


async def test_an_invite_is_used_once_even_when_many_enrol_at_the_same_moment(
    database: Database, database_url: str
) -> None:
    token_hash, invite = await _invite(database)
    other_process = Database.from_url(database_url)

    async def enrol(handle: Database) -> bool:
        async with handle.transaction() as tx:
            return await tx.invites.consume(token_hash, at=at(1)) is not None

    try:
        outcomes = await asyncio.gather(*(enrol(h) for h in [database, other_process] * 5))
    finally:
        await other_process.close()
    assert sorted(outcomes) == [False] * 9 + [True]
    async with database.transaction(read_only=True) as tx:
        used = await tx.invites.get(invite.id)
    assert used is not None
    assert used.used_at == at(1)


async def test_an_expired_or_unknown_invite_cannot_be_used(database: Database) -> None:
    token_hash, _ = await _invite(database, expires_in=10)
    async with database.transaction() as tx:
        assert await tx.invites.find_usable(token_hash, at=at(9)) is not None
        assert await tx.invites.find_usable(token_hash, at=at(10)) is None
        assert await tx.invites.consume(token_hash, at=at(10)) is None
        assert await tx.invites.consume(os.urandom(32), at=at(1)) is None
        removed = await tx.invites.delete_expired(before=at(11))
    assert removed == 1


async def test_a_failed_enrollment_leaves_the_invite_unused(database: Database) -> None:
    token_hash, invite = await _invite(database)
    async with database.transaction() as tx:
        await add_investigator(tx, "anna")

    async def enrol_as_anna() -> None:
        async with database.transaction() as tx:
            consumed = await tx.invites.consume(token_hash, at=at(1))
            assert consumed is not None
            person = await add_investigator(tx, "anna", status=InvestigatorStatus.PENDING)
            await tx.enrollments.create(invite_id=invite.id, investigator_id=person.id, at=at(1))

    with pytest.raises(UsernameTaken):
        await enrol_as_anna()
    async with database.transaction(read_only=True) as tx:
        assert await tx.invites.find_usable(token_hash, at=at(2)) == invite


async def test_an_enrollment_is_decided_once(database: Database) -> None:
    _, invite = await _invite(database)
    async with database.transaction() as tx:
        person = await add_investigator(tx, status=InvestigatorStatus.PENDING)
        enrollment = await tx.enrollments.create(
            invite_id=invite.id, investigator_id=person.id, at=at(1)
        )
        pending = await tx.enrollments.list_pending()
        vetted = await tx.enrollments.decide(enrollment.id, EnrollmentStatus.VETTED, at=at(2))
        rejected_later = await tx.enrollments.decide(
            enrollment.id, EnrollmentStatus.REJECTED, at=at(3)
        )
        latest = await tx.enrollments.latest_for_investigator(person.id)
        still_pending = await tx.enrollments.list_pending()
    assert pending == [enrollment]
    assert vetted is not None
    assert (vetted.status, vetted.decided_at) == (EnrollmentStatus.VETTED, at(2))
    assert rejected_later is None
    assert latest == vetted
    assert still_pending == []
    with pytest.raises(ValueError, match="vetted or rejected"):
        async with database.transaction() as tx:
            await tx.enrollments.decide(enrollment.id, EnrollmentStatus.PENDING, at=at(4))


async def test_an_invite_carries_one_enrollment(database: Database) -> None:
    _, invite = await _invite(database)
    async with database.transaction() as tx:
        first = await add_investigator(tx, status=InvestigatorStatus.PENDING)
        await tx.enrollments.create(invite_id=invite.id, investigator_id=first.id, at=at(1))

    async def enrol_again() -> None:
        async with database.transaction() as tx:
            second = await add_investigator(tx, status=InvestigatorStatus.PENDING)
            await tx.enrollments.create(invite_id=invite.id, investigator_id=second.id, at=at(2))

    with pytest.raises(InviteAlreadyEnrolled):
        await enrol_again()
